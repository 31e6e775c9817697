// The one line a tag row shows of its image: kind, size and platforms. Read from the manifest (and, for an image,
// its config) in the blob store directly, never through ManifestService.get, which would count a pull. Content
// under a digest never changes, so a summary is kept until the cache is full.
import pLimit from 'p-limit';
import type { BlobStore } from '../content/blob-store.ts';
import type { RepositoryStore } from '../content/repository-store.ts';
import { tryParseDigest } from '../oci/digest.ts';
import { configView, manifestView, type ManifestView } from './image-view.ts';

export interface ImageSummary {
  kind: 'index' | 'image' | 'missing';
  /** what a pull downloads: config and layers; for an index, of every platform */
  bytes: number;
  platforms: string[];
  artifactType?: string;
}

const SUMMARIES_KEPT = 20_000;
/** a config larger than this is not read for its platform (configs are a few KiB; a huge one is hostile) */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** children of an index read for its size and platforms */
const MAX_CHILDREN_READ = 64;
const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

const MISSING: ImageSummary = Object.freeze({ kind: 'missing', bytes: 0, platforms: [] });

export class ImageSummaries {
  private readonly blobs: BlobStore;
  private readonly repositories: RepositoryStore;
  private readonly cache = new Map<string, Promise<ImageSummary>>();

  constructor(blobs: BlobStore, repositories: RepositoryStore) {
    this.blobs = blobs;
    this.repositories = repositories;
  }

  /** the parsed manifest as the image page shows it, or null when it is not stored; `mediaType` as recorded at push */
  async manifest(digestValue: string, mediaType: string): Promise<{ view: ManifestView; content: Buffer; document: unknown } | null> {
    const digest = tryParseDigest(digestValue);
    if (!digest) return null;
    const content = await this.blobs.getContent(digest).catch(() => null);
    if (!content) return null;
    let document: unknown;
    try {
      document = JSON.parse(content.toString('utf8'));
    } catch {
      return null;
    }
    return { view: manifestView(document, mediaType), content, document };
  }

  /** the parsed config blob of an image, or null when absent, too large or not JSON */
  async config(digestValue: string, mediaType: string): Promise<unknown> {
    const digest = tryParseDigest(digestValue);
    if (!digest || !IMAGE_CONFIG_TYPES.has(mediaType)) return null;
    const size = await this.blobs.size(digest);
    if (size === null || size > MAX_CONFIG_BYTES) return null;
    try {
      return JSON.parse((await this.blobs.getContent(digest)).toString('utf8'));
    } catch {
      return null;
    }
  }

  summary(repository: string, digest: string): Promise<ImageSummary> {
    let summary = this.cache.get(digest);
    if (!summary) {
      summary = this.compute(repository, digest);
      summary.catch(() => this.cache.delete(digest));
      if (this.cache.size >= SUMMARIES_KEPT) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(digest, summary);
    }
    return summary;
  }

  private async compute(repository: string, digest: string): Promise<ImageSummary> {
    const parsed = tryParseDigest(digest);
    const record = parsed ? await this.repositories.getManifest(repository, parsed) : null;
    const manifest = record ? await this.manifest(digest, record.mediaType) : null;
    if (!record || !manifest) return MISSING;
    const { view } = manifest;
    const artifactType = record.artifactType ? { artifactType: record.artifactType } : {};
    if (view.kind === 'index') {
      const limit = pLimit(4);
      const children = view.manifests.items.slice(0, MAX_CHILDREN_READ);
      const summaries = await Promise.all(children.map((child) => limit(() => this.summary(repository, child.digest))));
      return {
        kind: 'index',
        bytes: summaries.reduce((sum, child) => sum + child.bytes, 0),
        platforms: children.map((child, i) => child.platform ?? summaries[i]!.platforms[0]).filter((p): p is string => p !== undefined),
        ...artifactType,
      };
    }
    const config = view.config ? configView(await this.config(view.config.digest, view.config.mediaType)) : undefined;
    return { kind: 'image', bytes: view.imageBytes, platforms: config?.platform ? [config.platform] : [], ...artifactType };
  }
}
