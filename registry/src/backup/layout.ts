// A backup destination's layout: the blobs as the registry stores them (`blobs/<alg>/<2 hex>/<hex>`, so a
// manifest is a blob too), shared by every snapshot and copied once; `snapshots/<id>.json`, each a point in time;
// `tmp/` for copies under way, moved into place only once their digest was verified.
import { randomUUID } from 'node:crypto';

export const SNAPSHOTS_ROOT = 'snapshots';
export const TEMP_ROOT = 'tmp';

const SNAPSHOT_FILE = /^(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z)\.json$/;

export const backupPaths = {
  snapshot: (id: string) => `${SNAPSHOTS_ROOT}/${id}.json`,
  temp: () => `${TEMP_ROOT}/${randomUUID()}`,
};

/**
 * A snapshot's id: its UTC time to the millisecond, written so that ids sort as times do and are safe in a file
 * name and an S3 key (no colons): 2026-12-03T06-16-00.123Z.
 */
export function snapshotId(at: Date): string {
  return at.toISOString().replace(/:/g, '-');
}

export function isSnapshotId(value: string): boolean {
  return SNAPSHOT_FILE.test(`${value}.json`);
}

/** the snapshot ids among a listing of `snapshots/`, oldest first; other files (a crashed put's leftovers) are ignored */
export function snapshotIdsIn(names: readonly string[]): string[] {
  return names.map((name) => SNAPSHOT_FILE.exec(name)?.[1]).filter((id): id is string => id !== undefined).sort();
}
