// Pull-through mirrors: repositories under a mirror's prefix (docker.io/library/busybox) are answered from the
// store, or fetched from the mirror's upstream on demand and kept. Only what clients ask for is fetched (an index,
// then the one platform's manifest and its blobs); a blob streams to its first client as it arrives; concurrent
// requests for one missing manifest or blob cause one upstream fetch; a tag is revalidated with one upstream HEAD
// at most every tagTTL, a digest never; when the upstream fails, the cached copy is served.
import type { Logger } from 'pino';
import type { BlobStore } from '../content/blob-store.ts';
import type { ManifestService, ResolvedManifest } from '../content/manifest-service.ts';
import { parseReference } from '../content/manifest-service.ts';
import type { RepositoryStore } from '../content/repository-store.ts';
import type { UploadStore } from '../content/upload-store.ts';
import { ErrorCodes, RegistryError, registryError } from '../errors.ts';
import { tryParseDigest, type ParsedDigest } from '../oci/digest.ts';
import { MANIFEST_MEDIA_TYPES } from '../oci/manifest.ts';
import type { RegistryMetrics } from '../ops/metrics.ts';
import type { FileReader } from '../storage/driver.ts';
import { BlobFetch, BlobNotFoundUpstream } from './blob-fetch.ts';
import { findMirror, routeByNamespace, type MirrorTarget } from './names.ts';
import { UpstreamError, upstreamFailureOf, type UpstreamBlob, type UpstreamManifest, type UpstreamManifestHead } from './upstream.ts';

/** What the service needs of an upstream client (tests give it a fake). */
export interface Upstream {
  readonly host: string;
  headManifest(repository: string, reference: string, accept: string[]): Promise<UpstreamManifestHead | null>;
  getManifest(repository: string, reference: string, accept: string[]): Promise<UpstreamManifest | null>;
  getBlob(repository: string, digest: string): Promise<UpstreamBlob | null>;
}

export interface Mirror {
  /** the repository prefix here */
  name: string;
  /** the upstream's URL, as error messages name it */
  upstreamUrl: string;
  upstream: Upstream;
  tagTtlMs: number;
  maxSizeBytes?: number;
}

export interface MirrorStores {
  blobs: BlobStore;
  uploads: UploadStore;
  repositories: RepositoryStore;
  manifests: ManifestService;
  metrics: RegistryMetrics;
}

/** A blob ready to send: its size and a reader; `release` (once) when the response is over: until then GC and eviction leave it. */
export interface MirroredBlob {
  size: number;
  open(): Promise<FileReader>;
  release(): void;
}

/**
 * After an upstream failure, tags are served from the cache without asking again for this long (or the 429's
 * Retry-After), so a down upstream does not cost every pull a timeout. Uncached content is still tried.
 */
const UPSTREAM_BACKOFF_MS = 10_000;

/** The manifest kinds we store; the upstream picks among them (Docker Hub answers a multi-platform tag with its index). */
const ACCEPT = [...MANIFEST_MEDIA_TYPES];

export class MirrorService {
  readonly mirrors: readonly Mirror[];
  private readonly stores: MirrorStores;
  private readonly logger: Logger;
  /** coalesced upstream work: one manifest fetch or tag HEAD per key at a time */
  private readonly manifestFetches = new Map<string, Promise<unknown>>();
  /**
   * one fetch per missing blob and mirror, with the links of the repositories it was asked for in: it is
   * forgotten only once they are written, so a later request finds the blob linked or joins the fetch
   */
  private readonly blobFetches = new Map<string, { fetch: BlobFetch; links: Set<Promise<unknown>> }>();
  /** `<repository>:<tag>` → when the upstream last confirmed (or gave) the tag's digest */
  private readonly tagValidatedAt = new Map<string, number>();
  /** mirror name → no tag revalidation before this time (ms) */
  private readonly backoffUntil = new Map<string, number>();
  /** called after new content was stored (eviction watches it) */
  onStored: (mirror: Mirror) => void = () => undefined;

  constructor(mirrors: readonly Mirror[], stores: MirrorStores, logger: Logger) {
    this.mirrors = mirrors;
    this.stores = stores;
    this.logger = logger;
  }

  /** The mirror a repository belongs to, and its name upstream; null for an ordinary repository. */
  target(repository: string): MirrorTarget<Mirror> | null {
    return findMirror(this.mirrors, repository);
  }

  /** The repository a request names once containerd's `ns` query parameter is applied. */
  routeName(repository: string, ns: string | undefined): string {
    return routeByNamespace(this.mirrors, repository, ns);
  }

  /** A manifest of a mirrored repository: its content for a GET (the pull is recorded), its head for a HEAD. */
  async manifest(repository: string, reference: string, method: 'GET' | 'HEAD'): Promise<ResolvedManifest & { content?: Buffer }> {
    const target = this.requireTarget(repository);
    this.stores.metrics.mirrorServed(target.mirror.name, await this.bringManifest(target, repository, reference));
    return method === 'GET' ? this.stores.manifests.get(repository, reference) : this.stores.manifests.resolve(repository, reference);
  }

  /**
   * Makes sure the manifest a reference names is here, asking the upstream only when it must: 'hit' when the
   * store answered (a tag within its TTL, confirmed by a HEAD, or served stale while the upstream fails),
   * 'miss' when the manifest was fetched.
   */
  private async bringManifest(target: MirrorTarget<Mirror>, repository: string, reference: string): Promise<'hit' | 'miss'> {
    const { repositories } = this.stores;
    const parsed = parseReference(reference);
    if (parsed.digest) {
      if (await this.isHere(repository, parsed.digest)) return 'hit';
      await this.coalesce(`get ${repository}@${parsed.digest.value}`, () => this.fetchManifest(target, repository, parsed.digest!.value));
      return 'miss';
    }
    const tag = parsed.tag!;
    const key = `${repository}:${tag}`;
    const local = await repositories.getTag(repository, tag);
    const localDigest = local ? tryParseDigest(local.digest) : null;
    if (!local || !localDigest || !(await this.isHere(repository, localDigest))) {
      await this.coalesce(`get ${key}`, () => this.fetchManifest(target, repository, tag, tag));
      return 'miss';
    }
    const validatedAt = this.tagValidatedAt.get(key) ?? Date.parse(local.pushedAt);
    if (Date.now() - validatedAt < target.mirror.tagTtlMs) return 'hit';
    if (this.backingOff(target.mirror)) {
      this.servedStale(target, repository, tag, validatedAt, 'the upstream failed recently');
      return 'hit';
    }
    let head: UpstreamManifestHead | null;
    try {
      head = await this.coalesce(`head ${key}`, () => target.mirror.upstream.headManifest(target.upstreamRepository, tag, ACCEPT));
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      this.upstreamFailed(target.mirror, error);
      this.servedStale(target, repository, tag, validatedAt, error.message);
      return 'hit';
    }
    if (!head) {
      // gone upstream: a mirror does not keep serving a tag its source deleted
      await repositories.deleteTag(repository, tag);
      throw registryError(ErrorCodes.MANIFEST_UNKNOWN, `${key} no longer exists at upstream ${target.mirror.upstreamUrl}`, { name: repository, reference });
    }
    const current = tryParseDigest(head.digest);
    if (current?.value !== localDigest.value) {
      // the tag moved upstream: to a manifest held here already, or fetched by its digest (which cannot move meanwhile)
      if (!current || !(await this.isHere(repository, current))) {
        await this.coalesce(`get ${key}`, () => this.fetchManifest(target, repository, head.digest, tag));
        return 'miss';
      }
      await repositories.putTag(repository, tag, current.value);
    }
    this.tagValidatedAt.set(key, Date.now());
    return 'hit';
  }

  /**
   * A blob of a mirrored repository, from the store or from the fetch that brings it (started here, or joined).
   * The digest is held until `release`, so neither GC nor eviction removes it while it is being sent.
   */
  async blob(repository: string, digest: ParsedDigest): Promise<MirroredBlob> {
    const target = this.requireTarget(repository);
    const { blobs, repositories, metrics } = this.stores;
    const release = await blobs.hold([digest.value]);
    try {
      const size = await blobs.size(digest);
      if (size !== null && ((await repositories.isBlobLinked(repository, digest)) || (await repositories.referencedBlobs(repository)).has(digest.value))) {
        await repositories.linkBlob(repository, digest);
        metrics.mirrorServed(target.mirror.name, 'hit');
        return this.storedBlob(digest, size, release);
      }
      const key = `${target.mirror.name} ${digest.value}`;
      let flight = this.blobFetches.get(key);
      if (flight) {
        metrics.mirrorServed(target.mirror.name, 'hit');
      } else {
        flight = this.startBlobFetch(target, repository, digest, key);
        metrics.mirrorServed(target.mirror.name, 'miss');
      }
      const { fetch } = flight;
      // every repository the blob is asked for in gets its link (a joiner may come from another one)
      flight.links.add(fetch.done.then(() => repositories.linkBlob(repository, digest)).catch(() => undefined));
      try {
        await fetch.started;
      } catch (error) {
        throw this.blobFailure(target, repository, digest, error);
      }
      if (fetch.size < 0) {
        // no Content-Length upstream: the size is known once the whole blob is in
        await fetch.done.catch((error: unknown) => {
          throw this.blobFailure(target, repository, digest, error);
        });
        return this.storedBlob(digest, (await blobs.size(digest)) ?? 0, release);
      }
      const reader = fetch.reader();
      return { size: fetch.size, open: async () => reader, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Writes and deletes into a mirror are refused: its content is the upstream's. */
  refuseWrite(repository: string): never {
    const target = this.requireTarget(repository);
    throw registryError(
      ErrorCodes.DENIED,
      `${repository} is in the pull-through mirror of ${target.mirror.upstreamUrl} (prefix ${target.mirror.name}/): it can only be pulled; push to a repository outside the prefix`,
      { name: repository, mirror: target.mirror.name },
    );
  }

  private storedBlob(digest: ParsedDigest, size: number, release: () => void): MirroredBlob {
    return { size, open: () => this.stores.blobs.open(digest), release };
  }


  private startBlobFetch(target: MirrorTarget<Mirror>, repository: string, digest: ParsedDigest, key: string): { fetch: BlobFetch; links: Set<Promise<unknown>> } {
    const { mirror } = target;
    const fetch = new BlobFetch(
      this.stores.uploads, this.stores.blobs,
      { repository, digest, owner: `mirror:${mirror.name}` },
      () => mirror.upstream.getBlob(target.upstreamRepository, digest.value),
      (bytes) => this.stores.metrics.mirrorBytesFromUpstream(mirror.name, bytes),
    );
    const flight = { fetch, links: new Set<Promise<unknown>>() };
    this.blobFetches.set(key, flight);
    const forget = async () => {
      while (flight.links.size > 0) {
        const batch = [...flight.links];
        flight.links.clear();
        await Promise.all(batch);
      }
      this.blobFetches.delete(key);
    };
    fetch.done.then(
      () => {
        this.logger.info({ mirror: mirror.name, repository, digest: digest.value, bytes: fetch.received }, 'mirror stored a blob from upstream');
        this.onStored(mirror);
      },
      (error: unknown) => {
        if (!(error instanceof BlobNotFoundUpstream)) {
          this.logger.warn({ mirror: mirror.name, repository, digest: digest.value, err: error }, 'mirror fetch of a blob failed; nothing was stored');
        }
      },
    ).finally(forget);
    return flight;
  }

  private blobFailure(target: MirrorTarget<Mirror>, repository: string, digest: ParsedDigest, error: unknown): Error {
    if (error instanceof BlobNotFoundUpstream) {
      return registryError(ErrorCodes.BLOB_UNKNOWN, `blob ${digest.value} of ${repository} is not cached and not found at upstream ${target.mirror.upstreamUrl}`, { digest: digest.value });
    }
    if (error instanceof RegistryError && error.descriptor === ErrorCodes.DIGEST_INVALID) {
      return registryError(ErrorCodes.UNAVAILABLE, `upstream ${target.mirror.upstreamUrl} sent blob ${digest.value} with content of another digest; it was not stored`, { digest: digest.value });
    }
    if (error instanceof RegistryError) return error;
    return this.unavailable(target, `blob ${digest.value} of ${repository}`, upstreamFailureOf(error, target.mirror.upstream.host));
  }

  private async fetchManifest(target: MirrorTarget<Mirror>, repository: string, reference: string, tag?: string): Promise<void> {
    const { mirror } = target;
    const what = `${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
    let manifest: UpstreamManifest | null;
    try {
      manifest = await mirror.upstream.getManifest(target.upstreamRepository, reference, ACCEPT);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      this.upstreamFailed(mirror, error);
      throw this.unavailable(target, what, error);
    }
    if (!manifest) {
      throw registryError(ErrorCodes.MANIFEST_UNKNOWN, `${what} is not cached and not found at upstream ${mirror.upstreamUrl}`, { name: repository, reference });
    }
    this.stores.metrics.mirrorBytesFromUpstream(mirror.name, manifest.size);
    const digest = tryParseDigest(manifest.digest);
    if (!digest) throw registryError(ErrorCodes.UNAVAILABLE, `upstream ${mirror.upstreamUrl} sent a manifest without a valid digest`);
    await this.stores.manifests.putMirrored(repository, digest, manifest.content, manifest.mediaType, tag);
    if (tag) this.tagValidatedAt.set(`${repository}:${tag}`, Date.now());
    this.logger.info({ mirror: mirror.name, repository, reference, digest: digest.value, mediaType: manifest.mediaType }, 'mirror stored a manifest from upstream');
    this.onStored(mirror);
  }

  private unavailable(target: MirrorTarget<Mirror>, what: string, error: UpstreamError): RegistryError {
    const message = `${what} is not cached and upstream ${target.mirror.upstreamUrl} failed: ${error.message}`;
    if (error.failure === 'rate-limited') {
      return registryError(ErrorCodes.TOOMANYREQUESTS, message, { upstream: target.mirror.upstreamUrl }, error.retryAfterS === undefined ? {} : { 'Retry-After': String(error.retryAfterS) });
    }
    return registryError(ErrorCodes.UNAVAILABLE, message, { upstream: target.mirror.upstreamUrl, failure: error.failure });
  }

  private upstreamFailed(mirror: Mirror, error: UpstreamError): void {
    if (error.failure === 'unauthorized' || error.failure === 'invalid') return;
    const pause = error.retryAfterS !== undefined ? error.retryAfterS * 1000 : UPSTREAM_BACKOFF_MS;
    this.backoffUntil.set(mirror.name, Date.now() + Math.min(pause, mirror.tagTtlMs || UPSTREAM_BACKOFF_MS));
  }

  private backingOff(mirror: Mirror): boolean {
    return (this.backoffUntil.get(mirror.name) ?? 0) > Date.now();
  }

  private servedStale(target: MirrorTarget<Mirror>, repository: string, tag: string, validatedAt: number, why: string): void {
    this.stores.metrics.mirrorStale(target.mirror.name);
    this.logger.warn(
      { mirror: target.mirror.name, repository, tag, validatedSecondsAgo: Math.round((Date.now() - validatedAt) / 1000), reason: why },
      'mirror served a cached tag without revalidating it: the upstream failed',
    );
  }

  /** from the records' in-memory cache: asked on every pull by tag */
  private async isHere(repository: string, digest: ParsedDigest): Promise<boolean> {
    return (await this.stores.repositories.getManifest(repository, digest)) !== null;
  }

  private requireTarget(repository: string): MirrorTarget<Mirror> {
    const target = this.target(repository);
    if (!target) throw new Error(`${repository} is not in a mirror`);
    return target;
  }

  private coalesce<T>(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.manifestFetches.get(key);
    if (running) return running as Promise<T>;
    const started = work().finally(() => this.manifestFetches.delete(key));
    this.manifestFetches.set(key, started);
    return started;
  }
}
