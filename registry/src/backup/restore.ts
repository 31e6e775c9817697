// Restore: a snapshot back into a registry's storage, offline (no registry serving it). Blobs are copied first
// (streamed, verified); then, per repository, what a push writes, in a push's order: blob links, manifest records
// (children before their index), referrer entries, tags; so a restore cut short leaves a store where every tag
// names a whole image, and the result is the store a push would have made (records GC reads, the referrers
// index, tag and pull times that retention rules read).
import { randomUUID } from 'node:crypto';
import type { RepositoryStore } from '../content/repository-store.ts';
import { BLOBS_ROOT, paths, REPOSITORIES_ROOT } from '../content/paths.ts';
import { forEachConcurrently } from '../storage/parallel.ts';
import type { Descriptor } from '../oci/manifest.ts';
import { tryParseDigest } from '../oci/digest.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { PathNotFoundError } from '../storage/driver.ts';
import type { BackupReport } from './backup.ts';
import { copyBlob, readFromDriver, type BlobCopier } from './copy.ts';
import { BackupError } from './errors.ts';
import { backupPaths, snapshotIdsIn, SNAPSHOTS_ROOT } from './layout.ts';
import { parseSnapshot, restoreOrder, type RepositorySnapshot, type Snapshot } from './snapshot.ts';

const COPY_CONCURRENCY = 4;
const WRITE_CONCURRENCY = 16;

export interface RestoreTarget {
  driver: StorageDriver;
  repositories: RepositoryStore;
}

export interface RestoreOptions {
  /** a snapshot id; unset: the newest */
  snapshot?: string;
  /** restore into a store that already holds content (its tags of the same names are replaced) */
  force?: boolean;
  sourceName: string;
}

/** what a backup reports of its copy, counted the same way for a restore (skipped: already in the store) */
export type RestoreReport = Pick<BackupReport, 'snapshot' | 'durationMs' | 'repositories' | 'images' | 'tags' | 'blobsCopied' | 'bytesCopied' | 'blobsSkipped' | 'bytesSkipped'> & {
  source: string;
};

export async function listSnapshots(source: StorageDriver): Promise<string[]> {
  return snapshotIdsIn(await source.list(SNAPSHOTS_ROOT));
}

export async function readSnapshot(source: StorageDriver, sourceName: string, id?: string): Promise<Snapshot> {
  const ids = await listSnapshots(source);
  const chosen = id ?? ids.at(-1);
  if (!chosen) throw new BackupError(`${sourceName} holds no snapshot`);
  if (!ids.includes(chosen)) {
    throw new BackupError(`${sourceName} holds no snapshot ${chosen}; the newest are: ${ids.slice(-5).reverse().join(', ') || 'none'}`);
  }
  try {
    return parseSnapshot(chosen, (await source.getContent(backupPaths.snapshot(chosen))).toString('utf8'));
  } catch (error) {
    if (error instanceof PathNotFoundError) throw new BackupError(`snapshot ${chosen} vanished from ${sourceName}`);
    throw error;
  }
}

/** a store holds content once it has a repository or a blob (a filesystem's own temporary directory aside) */
async function holdsContent(driver: StorageDriver): Promise<boolean> {
  return (await driver.list(REPOSITORIES_ROOT)).length > 0 || (await driver.list(BLOBS_ROOT)).length > 0;
}

export async function runRestore(source: StorageDriver, target: RestoreTarget, options: RestoreOptions): Promise<RestoreReport> {
  const started = Date.now();
  const snapshot = await readSnapshot(source, options.sourceName, options.snapshot);
  if (!options.force && await holdsContent(target.driver)) {
    throw new BackupError('the registry\'s storage is not empty; restore into an empty store, or give --force to add the snapshot to it (tags of the same names are replaced)');
  }
  const report: RestoreReport = {
    snapshot: snapshot.id, source: options.sourceName, durationMs: 0, repositories: 0, images: 0, tags: 0,
    blobsCopied: 0, bytesCopied: 0, blobsSkipped: 0, bytesSkipped: 0,
  };
  const copier: BlobCopier = {
    read: readFromDriver(source),
    to: target.driver,
    // inside an upload session's directory: the upload purge removes what a crashed restore left there
    temporary: () => paths.uploadData(`restore-${randomUUID()}`),
    release: (temporary) => target.driver.delete(temporary.slice(0, temporary.lastIndexOf('/'))),
  };
  await forEachConcurrently(Object.entries(snapshot.blobs), COPY_CONCURRENCY, async ([value, size]) => {
    const outcome = await copyBlob(copier, tryParseDigest(value)!, size, `snapshot ${snapshot.id}`);
    if (outcome.copied) {
      report.blobsCopied++;
      report.bytesCopied += size;
    } else {
      report.blobsSkipped++;
      report.bytesSkipped += size;
    }
  });
  for (const repository of snapshot.repositories) {
    await restoreRepository(target, repository);
    report.repositories++;
    report.images += repository.manifests.length;
    report.tags += Object.keys(repository.tags).length;
  }
  report.durationMs = Date.now() - started;
  return report;
}

async function restoreRepository(target: RestoreTarget, repository: RepositorySnapshot): Promise<void> {
  const { name } = repository;
  const links = new Set(repository.manifests.flatMap((record) => record.blobs));
  await forEachConcurrently(links, WRITE_CONCURRENCY, (blob) => target.repositories.linkBlob(name, tryParseDigest(blob)!));
  // children before their index: one at a time along the order, which is short next to the blob copies
  for (const record of restoreOrder(repository.manifests)) {
    const digest = tryParseDigest(record.digest)!;
    await target.repositories.putManifest(name, digest, record);
    const subject = record.subject ? tryParseDigest(record.subject) : null;
    if (subject) await target.repositories.addReferrer(name, subject, digest, referrerDescriptor(record));
  }
  // the tag files as the registry writes them, with their push times kept: RepositoryStore.putTag would stamp
  // the time of the restore, and retention rules keep tags by push time
  await forEachConcurrently(Object.entries(repository.tags), WRITE_CONCURRENCY, ([tag, record]) =>
    target.driver.putContent(paths.tag(name, tag), JSON.stringify({ digest: record.digest, pushedAt: record.pushedAt })));
  const pulls = repository.pulls;
  if (Object.keys(pulls.tags ?? {}).length > 0 || Object.keys(pulls.manifests ?? {}).length > 0) {
    await target.driver.putContent(paths.pulls(name), JSON.stringify({ tags: pulls.tags ?? {}, manifests: pulls.manifests ?? {} }));
  }
}

/** what the referrers listing shows for a manifest, as ManifestService writes it at push */
function referrerDescriptor(record: RepositorySnapshot['manifests'][number]): Descriptor {
  return {
    mediaType: record.mediaType,
    digest: record.digest,
    size: record.size,
    ...(record.artifactType ? { artifactType: record.artifactType } : {}),
    ...(record.annotations ? { annotations: record.annotations } : {}),
  };
}
