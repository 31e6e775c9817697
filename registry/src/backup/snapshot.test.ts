import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestRecord, TagRecord } from '../content/repository-store.ts';
import { snapshotId, snapshotIdsIn } from './layout.ts';
import { planPrune } from './prune.ts';
import { BackupError } from './errors.ts';
import { buildRepositorySnapshot, parseSnapshot, restoreOrder, SNAPSHOT_FORMAT, SnapshotFormatError, type Snapshot } from './snapshot.ts';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const record = (n: number, extra: Partial<ManifestRecord> = {}): ManifestRecord => ({
  digest: digest(n), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100 + n, blobs: [digest(1000 + n)],
  manifests: [], pushedAt: '2026-01-01T00:00:00.000Z', ...extra,
});
const tag = (n: number, pushedAt = '2026-01-02T00:00:00.000Z'): TagRecord => ({ digest: digest(n), pushedAt });
const noPulls = { tags: {}, manifests: {} };

describe('snapshot building', () => {
  it('keeps every record, and the tags whose record was read, with their push times', () => {
    const built = buildRepositorySnapshot({
      name: 'team/app',
      tags: new Map([['v2', tag(2, '2026-02-02T00:00:00.000Z')], ['v1', tag(1)]]),
      records: new Map([[digest(2), record(2)], [digest(1), record(1)], [digest(3), record(3)]]),
      pulls: { tags: { v1: '2026-03-01T00:00:00.000Z' }, manifests: {} },
    });
    assert.deepEqual(Object.keys(built.snapshot.tags), ['v1', 'v2']);
    assert.equal(built.snapshot.tags.v2!.pushedAt, '2026-02-02T00:00:00.000Z');
    assert.deepEqual(built.snapshot.manifests.map((m) => m.digest), [digest(1), digest(2), digest(3)], 'untagged ones too, sorted');
    assert.deepEqual(built.snapshot.pulls.tags, { v1: '2026-03-01T00:00:00.000Z' });
    assert.deepEqual(built.tagsLeftOut, []);
  });

  it('leaves out a tag whose manifest was deleted between the reads (a delete is wholly out)', () => {
    const built = buildRepositorySnapshot({
      name: 'app', tags: new Map([['gone', tag(9)], ['kept', tag(1)]]), records: new Map([[digest(1), record(1)]]), pulls: noPulls,
    });
    assert.deepEqual(Object.keys(built.snapshot.tags), ['kept']);
    assert.deepEqual(built.tagsLeftOut, ['gone']);
  });

  it('orders a restore as a push: children before their index, a referrer after nothing it needs', () => {
    const index = record(10, { mediaType: 'application/vnd.oci.image.index.v1+json', blobs: [], manifests: [digest(2), digest(1), digest(77)] });
    const referrer = record(20, { subject: digest(10) });
    const order = restoreOrder([index, referrer, record(1), record(2)]).map((m) => m.digest);
    assert.ok(order.indexOf(digest(10)) > order.indexOf(digest(1)) && order.indexOf(digest(10)) > order.indexOf(digest(2)));
    assert.equal(order.length, 4, 'a child missing from the records (digest 77) holds nothing back');
  });
});

describe('snapshot files', () => {
  const valid = (): Snapshot => ({
    format: SNAPSHOT_FORMAT, id: 'x', createdAt: '2026-01-01T00:00:00.000Z',
    repositories: [{ name: 'team/app', tags: { v1: tag(1) }, manifests: [record(1)], pulls: noPulls }],
    blobs: { [digest(1)]: 101, [digest(1001)]: 5 },
  });

  it('reads back what a backup writes', () => {
    assert.deepEqual(parseSnapshot('x', JSON.stringify(valid())), valid());
  });

  const damaged: Array<[string, (s: any) => void]> = [
    ['a blob a record needs is not listed', (s) => delete s.blobs[digest(1001)]],
    ['a tag names a manifest the repository lacks', (s) => { s.repositories[0].tags.v1.digest = digest(5); }],
    ['a repository name that is a path escape', (s) => { s.repositories[0].name = '../../etc'; }],
    ['a tag name that is a path', (s) => { s.repositories[0].tags['../x'] = tag(1); }],
    ['a negative blob size', (s) => { s.blobs[digest(1)] = -1; }],
    ['another format', (s) => { s.format = 2; }],
  ];
  for (const [what, damage] of damaged) {
    it(`refuses a snapshot where ${what}`, () => {
      const snapshot = valid();
      damage(snapshot);
      assert.throws(() => parseSnapshot('x', JSON.stringify(snapshot)), SnapshotFormatError);
    });
  }
  it('refuses what is not JSON', () => assert.throws(() => parseSnapshot('x', '{'), SnapshotFormatError));
});

describe('snapshot ids and keep', () => {
  it('ids sort as times and are safe as file names and S3 keys', () => {
    const ids = [new Date('2026-12-03T10:00:00.000Z'), new Date('2026-12-03T09:59:59.999Z'), new Date('2027-01-01T00:00:00Z')].map(snapshotId);
    assert.equal(ids[0], '2026-12-03T10-00-00.000Z');
    assert.ok(ids.every((id) => !id.includes(':')));
    assert.deepEqual(snapshotIdsIn([...ids.map((id) => `${id}.json`), 'notes.txt', `${ids[0]}.json.tmp`]), [ids[1], ids[0], ids[2]]);
  });

  it('keeps the newest n snapshots and deletes the older ones', () => {
    const ids = ['2026-01-03T00-00-00.000Z', '2026-01-01T00-00-00.000Z', '2026-01-02T00-00-00.000Z'];
    assert.deepEqual(planPrune(ids, 2), { kept: ['2026-01-02T00-00-00.000Z', '2026-01-03T00-00-00.000Z'], deleted: ['2026-01-01T00-00-00.000Z'] });
    assert.deepEqual(planPrune(ids, 5).deleted, []);
    assert.throws(() => planPrune(ids, 0), BackupError, 'keep 0 would delete the snapshot just taken');
  });
});
