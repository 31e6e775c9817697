// Mark and sweep over the global blob store, online. Mark: every manifest record of every repository, with the
// blobs it references (config, layers) and its own content; index children and referrers are records too, so
// they are reached the same way. Sweep: every stored blob not marked, older than the grace period and not
// protected by a request during the run (gc/guard.ts), is deleted; then the repository links pointing at a
// deleted blob, unless its digest was protected meanwhile (uploaded and linked again while the sweep ran).
// Memory stays flat in the store's size: the mark set holds digests as bytes, the store and each repository's
// links are walked directory by directory, never listed whole.
import type { BlobStore } from '../content/blob-store.ts';
import type { RepositoryStore } from '../content/repository-store.ts';
import type { UploadStore } from '../content/upload-store.ts';
import type { ParsedDigest } from '../oci/digest.ts';
import { DigestSet } from './digest-set.ts';
import { forEachConcurrently } from './parallel.ts';

/** filesystem calls in flight at once: a few per libuv thread-pool thread */
const IO_CONCURRENCY = 16;

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

  async collect(options: GcOptions): Promise<GcReport> {
    const guard = this.blobs.guard;
    guard.begin();
    const started = Date.now();
    try {
      const report: GcReport = {
        dryRun: !!options.dryRun, startedAt: new Date(started).toISOString(), durationMs: 0, repositories: 0,
        manifests: 0, blobsMarked: 0, blobsScanned: 0, blobsDeleted: 0, bytesFreed: 0, keptYoung: 0,
        keptProtected: 0, linksRemoved: 0, uploadsPurged: 0,
      };
      const repositories = await this.repositories.listRepositories({ fresh: true });
      const marked = await this.mark(repositories, report);
      report.blobsMarked = marked.size;
      const deleted = new DigestSet();
      // swept while the store is walked: a list of every candidate would be most of the store in memory
      await forEachConcurrently(this.blobs.digests(), IO_CONCURRENCY, async (digest) => {
        report.blobsScanned++;
        if (!marked.has(digest.value)) await this.sweep(digest, started, options, report, deleted);
      });
      if (deleted.size > 0) await this.removeDeadLinks(repositories, deleted, options, report);
      if (!options.dryRun) report.uploadsPurged = await this.uploads.purgeStale(options.uploadMaxAgeMs);
      report.durationMs = Date.now() - started;
      return report;
    } finally {
      guard.end();
    }
  }

  private async mark(repositories: string[], report: GcReport): Promise<DigestSet> {
    const marked = new DigestSet();
    for (const repository of repositories) {
      report.repositories++;
      await forEachConcurrently(await this.repositories.manifestDigests(repository), IO_CONCURRENCY, async (digest) => {
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

  private async sweep(digest: ParsedDigest, started: number, options: GcOptions, report: GcReport, deleted: DigestSet): Promise<void> {
    const info = await this.blobs.stat(digest);
    if (!info) return;
    const { size, modifiedAt } = info;
    const lastUsed = Math.max(modifiedAt.getTime(), this.blobs.guard.lastTouched(digest.value) ?? 0);
    if (started - lastUsed < options.gracePeriodMs) {
      report.keptYoung++;
      return;
    }
    if (options.dryRun) {
      report.blobsDeleted++;
      report.bytesFreed += size;
      deleted.add(digest.value);
      return;
    }
    const removed = await this.blobs.guard.deleteUnlessProtected(digest.value, () => this.blobs.delete(digest, size));
    if (!removed) {
      report.keptProtected++;
      return;
    }
    report.blobsDeleted++;
    report.bytesFreed += size;
    deleted.add(digest.value);
  }

  /**
   * Unlinks deleted blobs from the repositories that linked them. A digest protected since the run began was
   * uploaded (or mounted) again after its deletion and linked anew, or is held by a manifest PUT: its link
   * stays. The check and the start of the unlink are not interleaved, and protect() waits for the unlink, so an
   * upload re-links after it.
   */
  private async removeDeadLinks(repositories: string[], deleted: DigestSet, options: GcOptions, report: GcReport): Promise<void> {
    for (const repository of repositories) {
      await forEachConcurrently(this.repositories.linkedBlobs(repository), IO_CONCURRENCY, async (digest) => {
        if (!deleted.has(digest.value)) return;
        if (options.dryRun) {
          report.linksRemoved++;
          return;
        }
        const unlink = () => this.repositories.unlinkBlob(repository, digest);
        if (await this.blobs.guard.deleteUnlessProtected(digest.value, unlink)) report.linksRemoved++;
      });
    }
  }
}
