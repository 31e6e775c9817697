// Parsing and validation of the manifest kinds the registry stores: OCI image manifest and index, Docker schema2
// manifest and manifest list. What the registry keeps from a manifest is its references, so that tag listing,
// referrers and GC never re-parse manifests.
import { ErrorCodes, registryError } from '../errors.ts';
import { isDigest } from './digest.ts';

export const MediaTypes = Object.freeze({
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
});

const IMAGE_TYPES = new Set<string>([MediaTypes.ociManifest, MediaTypes.dockerManifest]);
const INDEX_TYPES = new Set<string>([MediaTypes.ociIndex, MediaTypes.dockerManifestList]);
export const MANIFEST_MEDIA_TYPES: readonly string[] = [...IMAGE_TYPES, ...INDEX_TYPES];

/**
 * Nesting deeper than this is refused before anything is parsed or written: real manifests nest a handful of
 * levels, and a deeper document would overflow the stack where its record is serialized.
 */
export const MAX_MANIFEST_DEPTH = 64;

/** Layers a client may legally leave out of the registry: they are fetched from their `urls`. */
const NON_DISTRIBUTABLE = /^application\/vnd\.(docker\.image\.rootfs\.foreign|oci\.image\.layer\.nondistributable)/;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

export interface ManifestReferences {
  mediaType: string;
  /** config and layers: blobs that must exist in the repository */
  blobs: string[];
  /** the size each referenced digest (blob or child manifest) declares; it must match what is stored */
  declaredSizes: Map<string, number>;
  /** children of an index: manifests that must exist in the repository */
  manifests: string[];
  subject?: Descriptor;
  /** what a referrers listing reports: `artifactType`, or an image manifest's config media type */
  artifactType?: string;
  annotations?: Record<string, string>;
}

export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && (IMAGE_TYPES.has(mediaType) || INDEX_TYPES.has(mediaType));
}

function invalid(message: string, detail?: unknown): never {
  throw registryError(ErrorCodes.MANIFEST_INVALID, message, detail);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) invalid(`${where} is not a descriptor`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType === '') invalid(`${where}.mediaType is missing`);
  if (typeof digest !== 'string' || !isDigest(digest)) invalid(`${where}.digest is not a valid digest`, { digest });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) invalid(`${where}.size is invalid`);
  const descriptor: Descriptor = { mediaType, digest, size };
  if (typeof value.artifactType === 'string') descriptor.artifactType = value.artifactType;
  if (isObject(value.annotations)) descriptor.annotations = value.annotations as Record<string, string>;
  if (Array.isArray(value.urls)) descriptor.urls = value.urls as string[];
  if (value.platform !== undefined) descriptor.platform = value.platform;
  return descriptor;
}

/** Records the size a descriptor declares; one digest declared with two sizes cannot match its content. */
function declareSize(references: ManifestReferences, descriptor: Descriptor, where: string): void {
  const earlier = references.declaredSizes.get(descriptor.digest);
  if (earlier !== undefined && earlier !== descriptor.size) {
    invalid(`${where}.size differs from another descriptor of the same digest`, { digest: descriptor.digest, sizes: [earlier, descriptor.size] });
  }
  references.declaredSizes.set(descriptor.digest, descriptor.size);
}

/** Deepest nesting of objects and arrays in a JSON text, counted without parsing it (stops past `limit`). */
function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x7b || char === 0x5b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (char === 0x7d || char === 0x5d) {
      depth--;
    }
  }
  return deepest;
}

function normalizeContentType(header: string | undefined): string | undefined {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  return type ? type : undefined;
}

/**
 * Validates a manifest body as PUT by a client. `contentType` is the request's Content-Type; when it names a
 * manifest type it wins, and a body declaring another type is invalid.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ManifestReferences {
  const text = body.toString('utf8');
  if (nestingDepth(text, MAX_MANIFEST_DEPTH) > MAX_MANIFEST_DEPTH) {
    invalid(`manifest nests objects and arrays deeper than ${MAX_MANIFEST_DEPTH} levels`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    invalid('manifest is not valid JSON');
  }
  if (!isObject(document)) invalid('manifest is not a JSON object');
  if (document.schemaVersion !== 2) invalid('unsupported schemaVersion (schema1 manifests are not accepted)');

  const declared = typeof document.mediaType === 'string' ? document.mediaType : undefined;
  const header = normalizeContentType(contentType);
  let mediaType: string;
  if (isManifestMediaType(header)) {
    if (declared !== undefined && declared !== header) {
      invalid('manifest mediaType does not match Content-Type', { mediaType: declared, contentType: header });
    }
    mediaType = header!;
  } else if (declared !== undefined) {
    mediaType = declared;
  } else {
    mediaType = Array.isArray(document.manifests) ? MediaTypes.ociIndex : MediaTypes.ociManifest;
  }
  if (!isManifestMediaType(mediaType)) invalid('unsupported manifest media type', { mediaType });

  const references: ManifestReferences = { mediaType, blobs: [], manifests: [], declaredSizes: new Map() };
  if (typeof document.artifactType === 'string') references.artifactType = document.artifactType;
  if (isObject(document.annotations)) references.annotations = document.annotations as Record<string, string>;
  if (document.subject !== undefined) references.subject = readDescriptor(document.subject, 'subject');

  if (IMAGE_TYPES.has(mediaType)) {
    const config = readDescriptor(document.config, 'config');
    if (!Array.isArray(document.layers)) invalid('layers must be an array');
    references.blobs.push(config.digest);
    declareSize(references, config, 'config');
    document.layers.forEach((layer, i) => {
      const descriptor = readDescriptor(layer, `layers[${i}]`);
      const external = NON_DISTRIBUTABLE.test(descriptor.mediaType) && (descriptor.urls?.length ?? 0) > 0;
      if (!external) {
        references.blobs.push(descriptor.digest);
        declareSize(references, descriptor, `layers[${i}]`);
      }
    });
    references.artifactType ??= config.mediaType;
  } else {
    if (!Array.isArray(document.manifests)) invalid('manifests must be an array');
    document.manifests.forEach((child, i) => {
      const descriptor = readDescriptor(child, `manifests[${i}]`);
      references.manifests.push(descriptor.digest);
      declareSize(references, descriptor, `manifests[${i}]`);
    });
  }
  return references;
}
