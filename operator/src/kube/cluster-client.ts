// The operator's port to the API server: the few verbs the controllers use, over client-node's generic
// KubernetesObjectApi. Controllers depend on this interface, so their unit tests can use an in-memory fake.
import type { KubernetesObject } from '@kubernetes/client-node';

export interface ObjectKey {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export interface ApplyOptions {
  /** another field manager than the operator's: to hand a field over to another owner */
  fieldManager?: string;
}

export interface GetOptions {
  /**
   * The object, if it exists, is one the operator makes and labels itself (a Registry's generated Secrets, its
   * Deployment, its Service): a cache holding the labelled objects of its kind then answers "not there" on its own,
   * as controller-runtime's label-filtered cache does. Without it, a miss in such a cache asks the API server, since
   * the object may exist unlabelled (a user's Secret the spec names).
   */
  operatorMade?: boolean;
}

/** for a get of a child the operator makes and labels: its cache's miss is an answer (see GetOptions) */
export const OPERATOR_MADE: GetOptions = Object.freeze({ operatorMade: true });

export interface ClusterClient {
  /** null when the object (or its kind) does not exist */
  get<T extends KubernetesObject>(key: ObjectKey, options?: GetOptions): Promise<T | null>;
  list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string | undefined, labelSelector: string): Promise<T[]>;
  /** server-side apply under the operator's field manager (or the one given), forcing ownership of the fields it sets */
  apply<T extends KubernetesObject>(manifest: T, options?: ApplyOptions): Promise<T>;
  /** no error when already gone */
  delete(key: ObjectKey): Promise<void>;
  /** merge-patches the status subresource; the object as stored after it, when the server says */
  patchStatus(key: ObjectKey, status: unknown): Promise<KubernetesObject | void>;
  /** merges annotations into metadata (a merge patch, no field ownership); no error when the object is gone */
  annotate(key: ObjectKey, annotations: Record<string, string>): Promise<void>;
  /** replaces metadata.finalizers, guarded by resourceVersion; the object as stored after it, when the server says */
  setFinalizers(key: ObjectKey, finalizers: string[], resourceVersion: string | undefined): Promise<KubernetesObject | void>;
}

export function keyOf(object: KubernetesObject): ObjectKey {
  return {
    apiVersion: object.apiVersion!,
    kind: object.kind!,
    name: object.metadata!.name!,
    ...(object.metadata?.namespace ? { namespace: object.metadata.namespace } : {}),
  };
}

export function isNotFound(error: unknown): boolean {
  return (error as { code?: number }).code === 404 || (error as { statusCode?: number }).statusCode === 404;
}
