// `keep`: the newest snapshots stay, older ones go, and then the blobs that no remaining snapshot names. Snapshot
// files are deleted before any blob, so a prune cut short leaves only unreferenced blobs behind (the next prune
// removes them), never a snapshot that names a deleted blob.
import { BlobStore } from '../content/blob-store.ts';
import { forEachConcurrently } from '../storage/parallel.ts';
import type { ParsedDigest } from '../oci/digest.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { readJsonFile } from '../storage/json-file.ts';
import { BackupError } from './errors.ts';
import { backupPaths, snapshotIdsIn, SNAPSHOTS_ROOT, TEMP_ROOT } from './layout.ts';
import type { Snapshot } from './snapshot.ts';

/** deletions in flight on a store without bulk deletion (a filesystem) */
const DELETE_CONCURRENCY = 16;
/** a temporary copy untouched this long was left by a crashed backup: no running one still writes it */
const STALE_TEMPORARY_MS = 24 * 3600_000;

export interface PruneReport {
  snapshotsKept: number;
  snapshotsDeleted: string[];
  blobsDeleted: number;
  bytesFreed: number;
  /** copies crashed backups left in tmp/ */
  temporariesRemoved: number;
}

/** which snapshots go: all but the newest `keep` (ids sort as times) */
export function planPrune(ids: readonly string[], keep: number): { kept: string[]; deleted: string[] } {
  if (!Number.isSafeInteger(keep) || keep < 1) throw new BackupError(`keep must be a whole number of at least 1 (got ${keep})`);
  const sorted = [...ids].sort();
  const cut = Math.max(0, sorted.length - keep);
  return { kept: sorted.slice(cut), deleted: sorted.slice(0, cut) };
}

export async function pruneDestination(destination: StorageDriver, keep: number): Promise<PruneReport> {
  const plan = planPrune(snapshotIdsIn(await destination.list(SNAPSHOTS_ROOT)), keep);
  await forEachConcurrently(plan.deleted, DELETE_CONCURRENCY, (id) => destination.delete(backupPaths.snapshot(id)));
  const referenced = new Set<string>();
  for (const id of plan.kept) {
    const snapshot = await readJsonFile<Snapshot>(destination, backupPaths.snapshot(id));
    // a kept snapshot that cannot be read could name any blob: delete none
    if (!snapshot?.blobs) throw new BackupError(`snapshot ${id} in the destination cannot be read; no blob was deleted`);
    for (const digest of Object.keys(snapshot.blobs)) referenced.add(digest);
  }
  // the destination's blobs are laid out as a registry's, so the store's walk lists them (flat on an object store)
  const store = new BlobStore(destination);
  const doomed: Array<{ digest: ParsedDigest; size: number }> = [];
  for await (const shard of store.shards()) {
    for await (const blob of shard()) {
      if (referenced.has(blob.digest.value)) continue;
      const info = await blob.info();
      if (info) doomed.push({ digest: blob.digest, size: info.size });
    }
  }
  await store.deleteMany(doomed, DELETE_CONCURRENCY);
  const temporariesRemoved = await removeStaleTemporaries(destination);
  return {
    snapshotsKept: plan.kept.length,
    snapshotsDeleted: plan.deleted,
    blobsDeleted: doomed.length,
    bytesFreed: doomed.reduce((sum, blob) => sum + blob.size, 0),
    temporariesRemoved,
  };
}

async function removeStaleTemporaries(destination: StorageDriver, now = Date.now()): Promise<number> {
  let removed = 0;
  await forEachConcurrently(await destination.list(TEMP_ROOT), DELETE_CONCURRENCY, async (name) => {
    const info = await destination.stat(`${TEMP_ROOT}/${name}`);
    if (!info || now - info.modifiedAt.getTime() <= STALE_TEMPORARY_MS) return;
    await destination.delete(`${TEMP_ROOT}/${name}`);
    removed++;
  });
  // an object store's multipart uploads that crashed appends left, which no listed name refers to
  return removed + ((await destination.abortOrphanedUploads?.(TEMP_ROOT, STALE_TEMPORARY_MS)) ?? 0);
}
