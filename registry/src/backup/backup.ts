// A backup: every repository's tags, manifest records and pull times as one snapshot, and every blob they need
// copied (streamed, verified) into the destination's content-addressed store, where a blob a previous backup
// copied is never copied again. Garbage collection is held off for the run (gc-hold.ts), so a record read is
// never left without the blobs it names; the snapshot file is written last, so a backup that fails or crashes
// leaves no snapshot naming a blob that is not in the destination.
import pLimit from 'p-limit';
import type { BlobStore } from '../content/blob-store.ts';
import type { ManifestRecord, RepositoryStore, TagRecord } from '../content/repository-store.ts';
import { forEachConcurrently } from '../storage/parallel.ts';
import { tryParseDigest, type ParsedDigest } from '../oci/digest.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { readJsonFile } from '../storage/json-file.ts';
import { BackupError } from './errors.ts';
import { copyBlob, streamOf, type BlobCopier, type CopyOutcome } from './copy.ts';
import { withGcHeldOff } from './gc-hold.ts';
import { backupPaths, snapshotId, snapshotIdsIn, SNAPSHOTS_ROOT } from './layout.ts';
import { pruneDestination, type PruneReport } from './prune.ts';
import { blobsOf, buildRepositorySnapshot, SNAPSHOT_FORMAT, type RepositoryReading, type Snapshot } from './snapshot.ts';

/** metadata reads in flight (small files; an object store answers each over the network) */
const READ_CONCURRENCY = 16;
/** blob copies in flight: each is a stream with a buffer or, to an object store, a 10 MiB part in memory */
const COPY_CONCURRENCY = 4;

export interface BackupSource {
  blobs: BlobStore;
  repositories: RepositoryStore;
  /** repositories left out: a mirror's cache, which its upstream fills again */
  isMirror?: (repository: string) => boolean;
}

export interface BackupOptions {
  /** where the backup goes, for the report (no credential) */
  destinationName: string;
  /** after the backup, delete all but the newest `keep` snapshots and the blobs no snapshot left names */
  keep?: number;
  now?: () => Date;
}

export interface BackupReport {
  snapshot: string;
  destination: string;
  startedAt: string;
  durationMs: number;
  repositories: number;
  /** manifests in the snapshot (images, indexes and their children, referrers) */
  images: number;
  tags: number;
  blobsCopied: number;
  bytesCopied: number;
  /** already in the destination from an earlier backup */
  blobsSkipped: number;
  bytesSkipped: number;
  /** tags whose manifest was deleted while the backup read them */
  tagsLeftOut: number;
  /** mirror repositories, not backed up */
  mirrorRepositoriesSkipped: number;
  pruned?: PruneReport;
}

/** Backs the source up into `destination`; throws BackupError (or the storage's error) and writes no snapshot then. */
export async function runBackup(source: BackupSource, destination: StorageDriver, options: BackupOptions): Promise<BackupReport> {
  const now = options.now ?? (() => new Date());
  const started = now();
  const id = snapshotId(started);
  const report: BackupReport = {
    snapshot: id, destination: options.destinationName, startedAt: started.toISOString(), durationMs: 0,
    repositories: 0, images: 0, tags: 0, blobsCopied: 0, bytesCopied: 0, blobsSkipped: 0, bytesSkipped: 0,
    tagsLeftOut: 0, mirrorRepositoriesSkipped: 0,
  };
  const known = await previousBlobSizes(destination);
  await withGcHeldOff(source.blobs, async () => {
    const snapshot: Snapshot = { format: SNAPSHOT_FORMAT, id, createdAt: started.toISOString(), repositories: [], blobs: {} };
    const copies = new BlobCopies(source, destination, known, report);
    for (const name of await source.repositories.listRepositories({ fresh: true })) {
      if (source.isMirror?.(name)) {
        report.mirrorRepositoriesSkipped++;
        continue;
      }
      const built = buildRepositorySnapshot(await readRepository(source.repositories, name));
      await forEachConcurrently(built.snapshot.manifests, COPY_CONCURRENCY * 2, async (record) => {
        for (const [digest, size] of await copies.ensure(name, record)) snapshot.blobs[digest] = size;
      });
      if (built.snapshot.manifests.length === 0) continue; // nothing left of it (deleted meanwhile)
      snapshot.repositories.push(built.snapshot);
      report.repositories++;
      report.images += built.snapshot.manifests.length;
      report.tags += Object.keys(built.snapshot.tags).length;
      report.tagsLeftOut += built.tagsLeftOut.length;
    }
    // last, and atomically (a filesystem renames a fsynced file into place; an object store's PUT is whole)
    await destination.putContent(backupPaths.snapshot(id), JSON.stringify(snapshot));
  });
  if (options.keep !== undefined) report.pruned = await pruneDestination(destination, options.keep);
  report.durationMs = now().getTime() - started.getTime();
  return report;
}

/**
 * What a repository holds now. The record listing comes first and the tags after it, so a tag pushed in between
 * names a record not listed: records named by tags, and index children, are read one by one. A record read as
 * gone was deleted meanwhile.
 */
async function readRepository(repositories: RepositoryStore, name: string): Promise<RepositoryReading> {
  const records = new Map<string, ManifestRecord>();
  const read = async (digest: ParsedDigest) => {
    const record = await repositories.getManifest(name, digest, { scan: true });
    if (record) records.set(digest.value, record);
  };
  await forEachConcurrently(await repositories.manifestDigests(name), READ_CONCURRENCY, read);
  const tags = new Map<string, TagRecord>();
  await forEachConcurrently(await repositories.listTags(name), READ_CONCURRENCY, async (tag) => {
    const record = await repositories.getTag(name, tag);
    if (record) tags.set(tag, record);
  });
  const tried = new Set(records.keys());
  let missing = [...tags.values()].map((tag) => tag.digest);
  while (missing.length > 0) {
    const next = [...new Set(missing)].filter((digest) => !tried.has(digest));
    for (const digest of next) tried.add(digest);
    await forEachConcurrently(next.map((digest) => tryParseDigest(digest)).filter((digest) => digest !== null), READ_CONCURRENCY, read);
    missing = next.flatMap((digest) => records.get(digest)?.manifests ?? []);
  }
  return { name, tags, records, pulls: await repositories.pullTimes(name) };
}

/** Sizes of the blobs the newest snapshot names: they are in the destination, so their source needs no stat. */
async function previousBlobSizes(destination: StorageDriver): Promise<Map<string, number>> {
  const latest = snapshotIdsIn(await destination.list(SNAPSHOTS_ROOT)).at(-1);
  const snapshot = latest ? await readJsonFile<Partial<Snapshot>>(destination, backupPaths.snapshot(latest)).catch(() => null) : null;
  return new Map(Object.entries(snapshot?.blobs ?? {}));
}

/** Each blob copied at most once per run, however many manifests and repositories name it. */
class BlobCopies {
  private readonly source: BackupSource;
  private readonly copier: BlobCopier;
  private readonly known: Map<string, number>;
  private readonly report: BackupReport;
  private readonly done = new Map<string, Promise<CopyOutcome>>();
  private readonly limit = pLimit(COPY_CONCURRENCY);

  constructor(source: BackupSource, destination: StorageDriver, known: Map<string, number>, report: BackupReport) {
    this.source = source;
    this.known = known;
    this.report = report;
    this.copier = {
      read: async (digest) => streamOf(await source.blobs.open(digest)),
      to: destination,
      temporary: backupPaths.temp,
    };
  }

  /** copies what the record needs; returns digest → size of each */
  async ensure(repository: string, record: ManifestRecord): Promise<Array<[string, number]>> {
    return Promise.all(blobsOf(record).map(async (value): Promise<[string, number]> => {
      const digest = tryParseDigest(value);
      if (!digest) throw new BackupError(`${repository}: manifest ${record.digest} names an invalid digest ${JSON.stringify(value)}`);
      let copy = this.done.get(value);
      if (!copy) {
        copy = this.limit(() => this.copy(repository, record, digest));
        this.done.set(value, copy);
      }
      return [value, (await copy).size];
    }));
  }

  private async copy(repository: string, record: ManifestRecord, digest: ParsedDigest): Promise<CopyOutcome> {
    const where = `${repository}: manifest ${record.digest}`;
    const size = digest.value === record.digest ? record.size : this.known.get(digest.value) ?? (await this.source.blobs.size(digest));
    if (size === null) throw new BackupError(`${where}: blob ${digest.value} is missing from the registry's store`);
    const outcome = await copyBlob(this.copier, digest, size, where);
    if (outcome.copied) {
      this.report.blobsCopied++;
      this.report.bytesCopied += size;
    } else {
      this.report.blobsSkipped++;
      this.report.bytesSkipped += size;
    }
    return outcome;
  }
}
