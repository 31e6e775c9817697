// A mirror's size limit: when its repositories hold more than maxSize, the least recently pulled manifests go
// (with their tags, and the blobs nothing else links), oldest first, until it fits. Runs like a garbage
// collection under the GC guard, so it never deletes a blob a request is using or about to reference: blobs held
// by a response, protected by a request during the run or touched just before it stay (see content/gc-guard.ts), and it
// never overlaps a collection.
import type { Logger } from 'pino';
import type { BlobStore } from '../content/blob-store.ts';
import type { ManifestService } from '../content/manifest-service.ts';
import type { ManifestRecord, RepositoryStore } from '../content/repository-store.ts';
import { GcAlreadyRunningError } from '../content/gc-guard.ts';
import { tryParseDigest } from '../oci/digest.ts';
import type { RegistryMetrics } from '../ops/metrics.ts';

export interface CachedManifest {
  repository: string;
  digest: string;
  /** the manifest's own bytes */
  size: number;
  /** config and layers stored for this repository */
  blobs: string[];
  /** last pull (ms), or when it was fetched if never pulled since */
  lastPulledAt: number;
}

export interface EvictionPlan {
  /** bytes the mirror holds: every manifest and every distinct blob its repositories reference and store */
  cachedBytes: number;
  /** oldest first */
  evict: CachedManifest[];
  /** bytes once they are gone */
  bytesAfter: number;
}

/**
 * Picks the least recently pulled manifests to evict until the rest fits `maxBytes`. A blob shared by manifests
 * is counted once and frees its bytes only with the last of them. The most recently pulled manifest is never
 * evicted, even when it alone is larger than the limit.
 */
export function planEviction(manifests: CachedManifest[], blobSizes: ReadonlyMap<string, number>, maxBytes: number | undefined): EvictionPlan {
  const users = new Map<string, number>();
  const key = (manifest: CachedManifest, blob: string) => `${manifest.repository}\n${blob}`;
  const blobKeys = new Map<string, Set<string>>();
  for (const manifest of manifests) {
    for (const blob of new Set(manifest.blobs)) {
      users.set(blob, (users.get(blob) ?? 0) + 1);
      blobKeys.set(blob, (blobKeys.get(blob) ?? new Set()).add(key(manifest, blob)));
    }
  }
  let total = manifests.reduce((sum, manifest) => sum + manifest.size, 0);
  for (const blob of users.keys()) total += blobSizes.get(blob) ?? 0;
  const plan: EvictionPlan = { cachedBytes: total, evict: [], bytesAfter: total };
  if (maxBytes === undefined || total <= maxBytes) return plan;
  const byAge = [...manifests].sort((a, b) => a.lastPulledAt - b.lastPulledAt);
  for (const manifest of byAge.slice(0, -1)) {
    if (total <= maxBytes) break;
    plan.evict.push(manifest);
    total -= manifest.size;
    for (const blob of new Set(manifest.blobs)) {
      const left = users.get(blob)! - 1;
      users.set(blob, left);
      if (left === 0) total -= blobSizes.get(blob) ?? 0;
    }
  }
  plan.bytesAfter = total;
  return plan;
}

/** A manifest pulled (or fetched) this recently is left for a later run: a client may be pulling its blobs now. */
const RECENT_PULL_MS = 5_000;

export interface EvictionStores {
  blobs: BlobStore;
  repositories: RepositoryStore;
  manifests: ManifestService;
  metrics: RegistryMetrics;
}

export interface EvictionResult {
  cachedBytes: number;
  manifestsEvicted: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** manifests the plan named but that were pulled too recently: another run is due */
  deferred: number;
}

export class MirrorEviction {
  private readonly stores: EvictionStores;
  private readonly logger: Logger;
  /** mirror name → cached bytes at the last measurement */
  private readonly cached = new Map<string, number>();

  constructor(stores: EvictionStores, logger: Logger) {
    this.stores = stores;
    this.logger = logger;
  }

  cachedBytes(mirror: string): number | null {
    return this.cached.get(mirror) ?? null;
  }

  /** Measures the mirror and, above `maxBytes`, evicts; null when a garbage collection is running (try later). */
  async run(mirror: string, maxBytes: number | undefined, now = Date.now()): Promise<EvictionResult | null> {
    const { manifests, blobSizes } = await this.inventory(mirror);
    const plan = planEviction(manifests, blobSizes, maxBytes);
    this.cached.set(mirror, plan.cachedBytes);
    const result: EvictionResult = { cachedBytes: plan.cachedBytes, manifestsEvicted: 0, blobsDeleted: 0, bytesFreed: 0, deferred: 0 };
    if (plan.evict.length === 0) return result;
    const guard = this.stores.blobs.guard;
    try {
      guard.begin();
    } catch (error) {
      if (error instanceof GcAlreadyRunningError) return null;
      throw error;
    }
    try {
      const candidates = new Set<string>();
      const evicted = new Set(plan.evict);
      const kept = new Set(manifests.filter((manifest) => !evicted.has(manifest)).flatMap((manifest) => manifest.blobs));
      const recent = (manifest: CachedManifest) => now - manifest.lastPulledAt < RECENT_PULL_MS
        || manifest.blobs.some((blob) => !kept.has(blob) && now - (guard.lastTouched(blob) ?? 0) < RECENT_PULL_MS);
      for (const manifest of plan.evict) {
        if (recent(manifest)) {
          result.deferred++;
          continue;
        }
        await this.evictManifest(manifest, candidates);
        result.manifestsEvicted++;
      }
      for (const digest of candidates) {
        const freed = await this.deleteBlobIfUnused(digest, now);
        if (freed !== null) {
          result.blobsDeleted++;
          result.bytesFreed += freed;
        }
      }
    } finally {
      guard.end();
    }
    this.stores.metrics.mirrorEvicted(mirror, result.manifestsEvicted);
    result.cachedBytes = plan.cachedBytes - result.bytesFreed;
    this.cached.set(mirror, Math.max(0, result.cachedBytes));
    this.logger.info({ mirror, limit: maxBytes, ...result }, 'mirror evicted least recently pulled content');
    return result;
  }

  /** Every manifest of the mirror's repositories with its last pull, and the sizes of the blobs they store. */
  private async inventory(mirror: string): Promise<{ manifests: CachedManifest[]; blobSizes: Map<string, number> }> {
    const { repositories, blobs } = this.stores;
    const manifests: CachedManifest[] = [];
    const blobSizes = new Map<string, number>();
    for (const repository of await repositories.listRepositories()) {
      if (!repository.startsWith(`${mirror}/`)) continue;
      const pulls = await repositories.pullTimes(repository);
      for (const digest of await repositories.manifestDigests(repository)) {
        const record = await repositories.getManifest(repository, digest, { scan: true });
        if (!record) continue;
        const stored: string[] = [];
        for (const blob of record.blobs) {
          const parsed = tryParseDigest(blob);
          if (!parsed || !(await repositories.isBlobLinked(repository, parsed))) continue;
          const size = blobSizes.get(blob) ?? (await blobs.size(parsed));
          if (size === null) continue;
          blobSizes.set(blob, size);
          stored.push(blob);
        }
        manifests.push({ repository, digest: record.digest, size: record.size, blobs: stored, lastPulledAt: lastPull(record, pulls.manifests[record.digest]) });
      }
    }
    return { manifests, blobSizes };
  }

  /**
   * Deletes the manifest (its tags and referrer entry go with it) and unlinks the blobs no other manifest of the
   * repository references; those become candidates for deletion from the store.
   */
  private async evictManifest(manifest: CachedManifest, candidates: Set<string>): Promise<void> {
    const { repositories, manifests } = this.stores;
    await manifests.delete(manifest.repository, manifest.digest);
    candidates.add(manifest.digest);
    const stillUsed = await repositories.referencedBlobs(manifest.repository);
    for (const blob of manifest.blobs) {
      if (stillUsed.has(blob)) continue;
      const parsed = tryParseDigest(blob)!;
      await this.stores.blobs.guard.deleteUnlessProtected(blob, () => repositories.unlinkBlob(manifest.repository, parsed));
      candidates.add(blob);
    }
  }

  /** Deletes a blob no repository links and no manifest record is (a manifest's own bytes); its size, or null when kept. */
  private async deleteBlobIfUnused(value: string, now: number): Promise<number | null> {
    const { blobs, repositories } = this.stores;
    const digest = tryParseDigest(value)!;
    const lastTouched = blobs.guard.lastTouched(value);
    if (lastTouched !== undefined && now - lastTouched < RECENT_PULL_MS) return null;
    for (const repository of await repositories.listRepositories()) {
      if ((await repositories.isBlobLinked(repository, digest)) || (await repositories.hasManifest(repository, digest))) return null;
    }
    const size = await blobs.size(digest);
    if (size === null) return null;
    const deleted = await blobs.guard.deleteUnlessProtected(value, () => blobs.delete(digest, size));
    return deleted ? size : null;
  }
}

function lastPull(record: ManifestRecord, pulledAt: string | undefined): number {
  return Math.max(Date.parse(record.pushedAt), pulledAt ? Date.parse(pulledAt) : 0);
}
