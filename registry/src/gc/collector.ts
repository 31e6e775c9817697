// Mark and sweep over the global blob store, online. Mark: every manifest record of every repository, with the
// blobs it references (config, layers) and its own content; index children and referrers are records too, so
// they are reached the same way. Sweep: every stored blob not marked, older than the grace period and not
// protected by a request during the run (content/gc-guard.ts; on shared storage also content/gc-fence.ts) is deleted; then the
// repository links pointing at a deleted blob, unless its digest was protected meanwhile (uploaded and linked
// again while the sweep ran). Both go in batches: on shared storage each batch is one intent and one listing of
// the holds, and an object store deletes a batch in one request.
// Memory stays flat in the store's size: the mark set holds digests as bytes, the store and each repository's
// links are walked as they are listed, never listed whole, and at most a few batches are in flight.
import type { BlobStore } from '../content/blob-store.ts';
import type { RepositoryStore } from '../content/repository-store.ts';
import type { UploadStore } from '../content/upload-store.ts';
import type { ParsedDigest } from '../oci/digest.ts';
import { withCompactHeap } from '../ops/heap-sizing.ts';
import { DigestSet } from './digest-set.ts';
import type { FenceRun } from '../content/gc-fence.ts';
import { Batcher, forEachConcurrently } from '../storage/parallel.ts';

/** storage calls in flight at once on a local filesystem: a few per libuv thread-pool thread */
const IO_CONCURRENCY = 16;
/** shared storage is reached over the network (an object store, a network filesystem): each call waits longer */
const SHARED_IO_CONCURRENCY = 64;
/** digests per removal batch; an object store deletes up to 1000 in one request (S3 DeleteObjects) */
const BATCH_SIZE = 1000;
/** batches removed at once, so the walk goes on while a batch waits for storage (longer on the network) */
const BATCHES_IN_FLIGHT = 2;
const SHARED_BATCHES_IN_FLIGHT = 4;

export interface GcOptions {
  /** blobs modified more recently than this are kept even when unreferenced */
  gracePeriodMs: number;
  /** upload sessions idle for longer are removed */
  uploadMaxAgeMs: number;
  dryRun?: boolean;
}

export interface GcReport {
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  repositories: number;
  manifests: number;
  blobsMarked: number;
  blobsScanned: number;
  blobsDeleted: number;
  bytesFreed: number;
  keptYoung: number;
  keptProtected: number;
  linksRemoved: number;
  uploadsPurged: number;
}

export class GarbageCollector {
  private readonly blobs: BlobStore;
  private readonly repositories: RepositoryStore;
  private readonly uploads: UploadStore;

  constructor(blobs: BlobStore, repositories: RepositoryStore, uploads: UploadStore) {
    this.blobs = blobs;
    this.repositories = repositories;
    this.uploads = uploads;
  }

  get running(): boolean {
    return this.blobs.guard.active;
  }

  /** a collection walks every blob: the heap is kept compact meanwhile (ops/heap-sizing.ts) */
  collect(options: GcOptions): Promise<GcReport> {
    return withCompactHeap(() => this.collectNow(options));
  }

  private async collectNow(options: GcOptions): Promise<GcReport> {
    const guard = this.blobs.guard;
    guard.begin();
    const started = Date.now();
    let run: FenceRun | null = null;
    try {
      // a dry run deletes nothing, so requests need not hold anything for it
      if (this.blobs.fence && !options.dryRun) run = await this.blobs.fence.beginRun();
      const io = this.blobs.fence ? SHARED_IO_CONCURRENCY : IO_CONCURRENCY;
      const inFlight = this.blobs.fence ? SHARED_BATCHES_IN_FLIGHT : BATCHES_IN_FLIGHT;
      const report: GcReport = {
        dryRun: !!options.dryRun, startedAt: new Date(started).toISOString(), durationMs: 0, repositories: 0,
        manifests: 0, blobsMarked: 0, blobsScanned: 0, blobsDeleted: 0, bytesFreed: 0, keptYoung: 0,
        keptProtected: 0, linksRemoved: 0, uploadsPurged: 0,
      };
      const repositories = await this.repositories.listRepositories({ fresh: true });
      const marked = await this.mark(repositories, report, io);
      report.blobsMarked = marked.size;
      const deleted = new DigestSet();
      const sweeps = new Batcher<Candidate>(BATCH_SIZE, inFlight, (batch) => this.sweep(batch, run, io, report, deleted));
      // swept while the store is walked, `io` shards at once: a list of every candidate would be most of the
      // store in memory
      await forEachConcurrently(this.blobs.shards(), io, async (shard) => {
        for await (const blob of shard()) {
          report.blobsScanned++;
          if (marked.has(blob.digest.value)) continue;
          const info = await blob.info();
          if (!info) continue;
          const lastUsed = Math.max(info.modifiedAt.getTime(), guard.lastTouched(blob.digest.value) ?? 0);
          if (started - lastUsed < options.gracePeriodMs) {
            report.keptYoung++;
          } else if (options.dryRun) {
            report.blobsDeleted++;
            report.bytesFreed += info.size;
            deleted.add(blob.digest.value);
          } else {
            await sweeps.add({ digest: blob.digest, size: info.size });
          }
        }
      });
      await sweeps.flush();
      if (deleted.size > 0) await this.removeDeadLinks(repositories, deleted, options, report, run, io, inFlight);
      if (!options.dryRun) report.uploadsPurged = await this.uploads.purgeStale(options.uploadMaxAgeMs);
      report.durationMs = Date.now() - started;
      return report;
    } finally {
      await run?.end();
      guard.end();
    }
  }

  private async mark(repositories: string[], report: GcReport, io: number): Promise<DigestSet> {
    const marked = new DigestSet();
    for (const repository of repositories) {
      report.repositories++;
      await forEachConcurrently(await this.repositories.manifestDigests(repository), io, async (digest) => {
        const record = await this.repositories.getManifest(repository, digest, { scan: true });
        if (!record) return;
        report.manifests++;
        marked.add(digest.value);
        for (const blob of record.blobs) marked.add(blob);
        for (const child of record.manifests) marked.add(child);
      });
    }
    return marked;
  }

  /**
   * Runs `remove` for those of the digests nothing protects: no request of this process (content/gc-guard.ts) and, on
   * shared storage, no hold of any process (content/gc-fence.ts). Returns the digests removed.
   */
  private removeUnprotected(run: FenceRun | null, digests: string[], remove: (digests: string[]) => Promise<void>): Promise<string[]> {
    const unprotected = (candidates: string[]) => this.blobs.guard.deleteManyUnlessProtected(candidates, remove);
    return run ? run.removeUnheld(digests, unprotected) : unprotected(digests);
  }

  private async sweep(batch: Candidate[], run: FenceRun | null, io: number, report: GcReport, deleted: DigestSet): Promise<void> {
    const candidates = new Map(batch.map((candidate) => [candidate.digest.value, candidate]));
    const removed = await this.removeUnprotected(run, [...candidates.keys()], (digests) =>
      this.blobs.deleteMany(digests.map((digest) => candidates.get(digest)!), io));
    report.keptProtected += candidates.size - removed.length;
    for (const digest of removed) {
      report.blobsDeleted++;
      report.bytesFreed += candidates.get(digest)!.size;
      deleted.add(digest);
    }
  }

  /**
   * Unlinks deleted blobs from the repositories that linked them. A digest protected since the run began was
   * uploaded (or mounted) again after its deletion and linked anew, or is held by a manifest PUT: its link
   * stays. The check and the start of the unlink are not interleaved, and protect() waits for the unlink, so an
   * upload re-links after it.
   */
  private async removeDeadLinks(
    repositories: string[], deleted: DigestSet, options: GcOptions, report: GcReport, run: FenceRun | null, io: number,
    inFlight: number,
  ): Promise<void> {
    const unlinks = new Batcher<Link>(BATCH_SIZE, inFlight, async (batch) => {
      const removed = new Set(await this.removeUnprotected(run, [...new Set(batch.map((link) => link.digest.value))], async (digests) => {
        const unheld = new Set(digests);
        const byRepository = new Map<string, ParsedDigest[]>();
        for (const link of batch) {
          if (unheld.has(link.digest.value)) byRepository.set(link.repository, [...byRepository.get(link.repository) ?? [], link.digest]);
        }
        await Promise.all([...byRepository].map(([repository, links]) => this.repositories.unlinkBlobs(repository, links, io)));
      }));
      report.linksRemoved += batch.filter((link) => removed.has(link.digest.value)).length;
    });
    for (const repository of repositories) {
      await forEachConcurrently(this.repositories.linkedBlobs(repository), io, async (digest) => {
        if (!deleted.has(digest.value)) return;
        if (options.dryRun) report.linksRemoved++;
        else await unlinks.add({ repository, digest });
      });
    }
    await unlinks.flush();
  }
}

interface Candidate {
  digest: ParsedDigest;
  size: number;
}

interface Link {
  repository: string;
  digest: ParsedDigest;
}
