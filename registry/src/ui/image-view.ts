// What the image page shows of a manifest and its config, built from JSON a pusher wrote: every field is checked
// for its type before it is used (anything else is left out), long lists are cut to their first entries and long
// strings to their start, with the counts of what was left out. Pure, so hostile documents are tested here.
import { tryParseDigest } from '../oci/digest.ts';
import { MediaTypes } from '../oci/manifest.ts';
import { firstOf, truncate, type Truncated } from './format.ts';

/** entries of any one list shown on a page (layers, annotations, env, history...) */
export const MAX_LISTED = 200;
/** characters of one value shown before "show all" */
export const MAX_VALUE_LENGTH = 500;

export interface Listed<T> {
  items: T[];
  /** entries left out */
  more: number;
}

export interface DescriptorView {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  /** os/architecture[/variant] of an index entry */
  platform?: string;
}

export interface ManifestView {
  kind: 'index' | 'image';
  mediaType: string;
  artifactType?: string;
  /** the entries of an index */
  manifests: Listed<DescriptorView>;
  config?: DescriptorView;
  layers: Listed<DescriptorView>;
  /** config and layers: what pulling this image downloads */
  imageBytes: number;
  subject?: string;
  annotations: Listed<[string, Truncated]>;
}

export interface ConfigView {
  platform?: string;
  created?: string;
  author?: string;
  user?: string;
  workingDir?: string;
  entrypoint?: Truncated;
  cmd?: Truncated;
  env: Listed<Truncated>;
  exposedPorts: Listed<string>;
  labels: Listed<[string, Truncated]>;
  history: Listed<{ created?: string; createdBy: Truncated; emptyLayer: boolean; comment?: string }>;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function objectEntries(value: unknown): Array<[string, unknown]> {
  return isObject(value) ? Object.entries(value) : [];
}

function listed<T>(items: readonly T[]): Listed<T> {
  return firstOf(items, MAX_LISTED);
}

function stringMap(value: unknown): Listed<[string, Truncated]> {
  const entries = objectEntries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  return listed(entries.map(([key, entry]): [string, Truncated] => [truncate(key, MAX_VALUE_LENGTH).shown, truncate(entry, MAX_VALUE_LENGTH)]));
}

/** os/architecture/variant, from an index entry's platform or an image config */
export function platformOf(value: unknown): string | undefined {
  if (!isObject(value)) return undefined;
  const os = text(value.os);
  const architecture = text(value.architecture);
  if (!os || !architecture) return undefined;
  const variant = text(value.variant);
  return truncate([os, architecture, ...(variant ? [variant] : [])].join('/'), 60).shown;
}

function descriptorOf(value: unknown): DescriptorView | undefined {
  if (!isObject(value)) return undefined;
  const digest = text(value.digest);
  const size = value.size;
  if (!digest || !tryParseDigest(digest) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  const artifactType = text(value.artifactType);
  const platform = platformOf(value.platform);
  return {
    digest,
    mediaType: truncate(text(value.mediaType) ?? '', MAX_VALUE_LENGTH).shown,
    size,
    ...(artifactType ? { artifactType: truncate(artifactType, MAX_VALUE_LENGTH).shown } : {}),
    ...(platform ? { platform } : {}),
  };
}

function descriptors(value: unknown): DescriptorView[] {
  return Array.isArray(value) ? value.map(descriptorOf).filter((entry): entry is DescriptorView => entry !== undefined) : [];
}

const INDEX_TYPES = new Set<string>([MediaTypes.ociIndex, MediaTypes.dockerManifestList]);

/** `mediaType`: the one the registry recorded at push (the document's own may be absent) */
export function manifestView(document: unknown, mediaType: string): ManifestView {
  const manifest = isObject(document) ? document : {};
  const kind = INDEX_TYPES.has(mediaType) || Array.isArray(manifest.manifests) ? 'index' : 'image';
  const config = descriptorOf(manifest.config);
  const layers = descriptors(manifest.layers);
  const subject = isObject(manifest.subject) ? text(manifest.subject.digest) : undefined;
  const artifactType = text(manifest.artifactType);
  return {
    kind,
    mediaType,
    ...(artifactType ? { artifactType: truncate(artifactType, MAX_VALUE_LENGTH).shown } : {}),
    manifests: listed(descriptors(manifest.manifests)),
    ...(config ? { config } : {}),
    layers: listed(layers),
    imageBytes: (config?.size ?? 0) + layers.reduce((sum, layer) => sum + layer.size, 0),
    ...(subject && tryParseDigest(subject) ? { subject } : {}),
    annotations: stringMap(manifest.annotations),
  };
}

function command(value: unknown): Truncated | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  return truncate(JSON.stringify(value.filter((part) => typeof part === 'string')), MAX_VALUE_LENGTH);
}

/** An image config (OCI or Docker); fields of other types are left out. */
export function configView(document: unknown): ConfigView {
  const root = isObject(document) ? document : {};
  const config = isObject(root.config) ? root.config : {};
  const platform = platformOf(root);
  const created = text(root.created);
  const author = text(root.author);
  const user = text(config.User);
  const workingDir = text(config.WorkingDir);
  const entrypoint = command(config.Entrypoint);
  const cmd = command(config.Cmd);
  const env = Array.isArray(config.Env) ? config.Env.filter((entry): entry is string => typeof entry === 'string') : [];
  const history = Array.isArray(root.history) ? root.history.filter(isObject) : [];
  return {
    ...(platform ? { platform } : {}),
    ...(created ? { created: truncate(created, 40).shown } : {}),
    ...(author ? { author: truncate(author, MAX_VALUE_LENGTH).shown } : {}),
    ...(user ? { user: truncate(user, MAX_VALUE_LENGTH).shown } : {}),
    ...(workingDir ? { workingDir: truncate(workingDir, MAX_VALUE_LENGTH).shown } : {}),
    ...(entrypoint ? { entrypoint } : {}),
    ...(cmd ? { cmd } : {}),
    env: listed(env.map((entry) => truncate(entry, MAX_VALUE_LENGTH))),
    exposedPorts: listed(objectEntries(config.ExposedPorts).map(([port]) => truncate(port, 40).shown)),
    labels: stringMap(config.Labels),
    history: listed(history.map((step) => {
      const stepCreated = text(step.created);
      const comment = text(step.comment);
      return {
        ...(stepCreated ? { created: truncate(stepCreated, 40).shown } : {}),
        createdBy: truncate(text(step.created_by) ?? '', MAX_VALUE_LENGTH),
        emptyLayer: step.empty_layer === true,
        ...(comment ? { comment: truncate(comment, MAX_VALUE_LENGTH).shown } : {}),
      };
    })),
  };
}
