// What the API definitions (v1alpha1/*.schema.ts) are written with: TypeBox schemas, which are at once the TypeScript
// types (Static<typeof schema>) and the CRDs' OpenAPI v3 schemas (crds.ts renders them), plus the few shapes a
// structural CRD schema needs that TypeBox's own builders do not emit (a string enum, a string map, an opaque object).
import { Type, type TSchema, type TUnsafe } from '@sinclair/typebox';

/** A CEL rule the API server checks at apply time (`x-kubernetes-validations`). */
export interface CelRule {
  rule: string;
  message: string;
}

/**
 * The schema keywords a CRD may carry, in the order the generated YAML writes them. Anything else in a schema
 * (TypeBox's anyOf, const, patternProperties, ...) is refused by crds.ts, as the API server would refuse it or
 * read it otherwise.
 */
export const SCHEMA_KEYWORDS = [
  'type', 'format', 'description', 'enum', 'default', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems',
  'maxItems', 'pattern', 'required', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-map-type',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-validations', 'properties',
  'additionalProperties', 'items',
] as const;

/** A string that is one of `values` (TypeBox would write a union of literals as anyOf, which a CRD cannot use). */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string; default?: T[number] } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', ...options, enum: [...values] });
}

/** An object of string values under any keys (TypeBox's Record would write patternProperties). */
export function StringMap(options: { description?: string } = {}): TUnsafe<Record<string, string>> {
  return Type.Unsafe<Record<string, string>>({ type: 'object', ...options, additionalProperties: { type: 'string' } });
}

/**
 * A schema whose TypeScript type is given rather than derived: a Kubernetes type the client library already
 * defines (V1Condition, V1ResourceRequirements), described to the API server by `schema`.
 */
export function Typed<T>(schema: TSchema | Record<string, unknown>): TUnsafe<T> {
  return Type.Unsafe<T>(schema);
}

/** a Kubernetes quantity such as 10Gi, 500M or 1073741824 */
export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$';
/** an S3 bucket name */
export const BUCKET_PATTERN = '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$';
/** http(s)://host[:port] of an S3-compatible server */
export const S3_ENDPOINT_PATTERN = '^https?://[^/?#@\\s]+/?$';

/** `metav1.Condition`, as every Kubernetes API lists them: a map keyed by type. */
export function ConditionsSchema(description: string) {
  return Type.Array(Type.Object({
    type: Type.String({ description: 'The aspect this condition reports, an adjective in CamelCase: Ready, Progressing, Degraded.' }),
    status: StringEnum(['True', 'False', 'Unknown'], { description: 'Whether the condition holds: True, False or Unknown.' }),
    observedGeneration: Type.Optional(Type.Integer({
      format: 'int64', description: 'The metadata.generation the condition was set from.',
    })),
    lastTransitionTime: Type.String({ format: 'date-time', description: 'When status last changed.' }),
    reason: Type.String({ description: 'Why, in one CamelCase word (machine-readable).' }),
    message: Type.String({ description: 'Why, in a sentence for people.' }),
  }), { description, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
}

/** what kubectl shows for apiVersion and kind of any object (the wording of Kubernetes' own types) */
export const TYPE_META_DESCRIPTIONS = {
  apiVersion: 'APIVersion defines the versioned schema of this representation of an object. Servers should convert '
    + 'recognized schemas to the latest internal value, and may reject unrecognized values. More info: '
    + 'https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
  kind: 'Kind is a string value representing the REST resource this object represents. Servers may infer this from '
    + 'the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: '
    + 'https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
} as const;

/** a column of `kubectl get` */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
}

/** Everything a CustomResourceDefinition says about one kind, next to its schemas; crds.ts renders it. */
export interface CustomResourceSource {
  group: string;
  version: string;
  scope: 'Namespaced' | 'Cluster';
  names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
  /** what `kubectl explain <kind>` says of the kind itself */
  description: string;
  spec: TSchema;
  status: TSchema;
  printerColumns: PrinterColumn[];
}
