// A backup's point-in-time metadata, one JSON file per snapshot beside the content-addressed blobs it names:
// for each repository its tags, its manifest records (tagged or not: index children, referrers, untagged pushes)
// and its last-pulled times, which retention rules read. Built here from what was read, without storage, so
// what a snapshot keeps and leaves out is tested on its own.
import type { ManifestRecord, PullTimes, TagRecord } from '../content/repository-store.ts';
import { tryParseDigest } from '../oci/digest.ts';
import { isValidRepositoryName, isValidTag } from '../oci/names.ts';

export const SNAPSHOT_FORMAT = 1;

export interface RepositorySnapshot {
  name: string;
  /** tag → digest and the time it was pushed (retention keeps tags by push time) */
  tags: Record<string, TagRecord>;
  /** every manifest record of the repository, sorted by digest */
  manifests: ManifestRecord[];
  pulls: PullTimes;
}

export interface Snapshot {
  format: typeof SNAPSHOT_FORMAT;
  id: string;
  createdAt: string;
  repositories: RepositorySnapshot[];
  /** digest → size of every blob the snapshot needs (manifests, configs, layers), all in the destination */
  blobs: Record<string, number>;
}

/** what one repository held when it was read, before the snapshot keeps what is whole */
export interface RepositoryReading {
  name: string;
  tags: Map<string, TagRecord>;
  /** digest → record; a digest read as gone (deleted during the backup) is absent */
  records: Map<string, ManifestRecord>;
  pulls: PullTimes;
}

export interface RepositoryBuild {
  snapshot: RepositorySnapshot;
  /** tags left out: their manifest was deleted between the tag's read and the record's */
  tagsLeftOut: string[];
}

/**
 * Keeps the tags whose manifest record was read, and every record. A manifest PUT writes its record before its
 * tag, and a DELETE removes the tags before the record, so a tag without a record was being deleted: leaving it
 * out keeps a push or a delete wholly in the snapshot or wholly out of it.
 */
export function buildRepositorySnapshot(reading: RepositoryReading): RepositoryBuild {
  const tags: Record<string, TagRecord> = {};
  const tagsLeftOut: string[] = [];
  for (const [tag, tagRecord] of [...reading.tags].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (reading.records.has(tagRecord.digest)) tags[tag] = { digest: tagRecord.digest, pushedAt: tagRecord.pushedAt };
    else tagsLeftOut.push(tag);
  }
  const manifests = [...reading.records.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return { snapshot: { name: reading.name, tags, manifests, pulls: reading.pulls }, tagsLeftOut };
}

/** the digests a record needs in the blob store: its own content, its config and layers */
export function blobsOf(record: ManifestRecord): string[] {
  return [record.digest, ...record.blobs];
}

/**
 * Records in the order a restore writes them, as a push would: a manifest after the children it names, so a
 * restore stopped half-way leaves no index whose children are missing. Children outside the repository's
 * records (deleted from the source) do not hold their index back.
 */
export function restoreOrder(records: readonly ManifestRecord[]): ManifestRecord[] {
  const byDigest = new Map(records.map((record) => [record.digest, record]));
  const ordered: ManifestRecord[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (record: ManifestRecord) => {
    if (state.has(record.digest)) return; // done, or a cycle (not possible with content addressing) being broken
    state.set(record.digest, 'visiting');
    for (const child of record.manifests) {
      const childRecord = byDigest.get(child);
      if (childRecord) visit(childRecord);
    }
    state.set(record.digest, 'done');
    ordered.push(record);
  };
  for (const record of records) visit(record);
  return ordered;
}

export class SnapshotFormatError extends Error {
  constructor(id: string, problem: string) {
    super(`snapshot ${id} is not a snapshot this version can restore: ${problem}`);
    this.name = 'SnapshotFormatError';
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parses a snapshot file and checks what a restore relies on: names, digests, sizes, and that every blob a record
 * names is listed. A damaged file fails here, before anything is written to the registry's store.
 */
export function parseSnapshot(id: string, text: string): Snapshot {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SnapshotFormatError(id, 'not JSON');
  }
  if (!isObject(parsed) || parsed.format !== SNAPSHOT_FORMAT) throw new SnapshotFormatError(id, `format must be ${SNAPSHOT_FORMAT}`);
  if (!Array.isArray(parsed.repositories) || !isObject(parsed.blobs)) throw new SnapshotFormatError(id, 'repositories or blobs missing');
  const blobs = parsed.blobs as Record<string, unknown>;
  for (const [digest, size] of Object.entries(blobs)) {
    if (!tryParseDigest(digest) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new SnapshotFormatError(id, `blob entry ${JSON.stringify(digest)}`);
    }
  }
  for (const repository of parsed.repositories as unknown[]) {
    if (!isObject(repository) || typeof repository.name !== 'string' || !isObject(repository.tags) || !Array.isArray(repository.manifests)
      || !isObject(repository.pulls)) {
      throw new SnapshotFormatError(id, 'a repository entry lacks name, tags, manifests or pulls');
    }
    // names become storage paths in the restored store: only what a push could have created
    if (!isValidRepositoryName(repository.name)) throw new SnapshotFormatError(id, `invalid repository name ${JSON.stringify(repository.name)}`);
    for (const record of repository.manifests as unknown[]) {
      if (!isObject(record) || typeof record.digest !== 'string' || !tryParseDigest(record.digest) || typeof record.mediaType !== 'string' || !Array.isArray(record.blobs)
        || !Array.isArray(record.manifests) || typeof record.size !== 'number') {
        throw new SnapshotFormatError(id, `a manifest record of ${repository.name} is incomplete`);
      }
      for (const digest of blobsOf(record as unknown as ManifestRecord)) {
        if (!(digest in blobs)) throw new SnapshotFormatError(id, `${repository.name}: ${digest} is not among the snapshot's blobs`);
      }
    }
    const recorded = new Set((repository.manifests as Array<{ digest: string }>).map((record) => record.digest));
    for (const [name, tag] of Object.entries(repository.tags as Record<string, unknown>)) {
      if (!isValidTag(name) || !isObject(tag) || typeof tag.digest !== 'string' || !recorded.has(tag.digest) || typeof tag.pushedAt !== 'string') {
        throw new SnapshotFormatError(id, `tag ${JSON.stringify(name)} of ${repository.name} is invalid or incomplete`);
      }
    }
  }
  return parsed as unknown as Snapshot;
}
