import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFilesystemDriver } from '../storage/filesystem.ts';
import { RepositoryStore } from './repository-store.ts';

const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;

describe('RepositoryStore: pull times', () => {
  it('keeps the pulls two replicas flush at once on shared storage', async () => {
    const driver = await openFilesystemDriver(mkdtempSync(join(tmpdir(), 'regop-pulls-')));
    const one = new RepositoryStore(driver, { shared: true });
    const two = new RepositoryStore(driver, { shared: true });
    one.recordPull('app', DIGEST_A, 'v1');
    two.recordPull('app', DIGEST_B, 'v2');
    await Promise.all([one.flushPulls(), two.flushPulls()]);
    for (const store of [one, two, new RepositoryStore(driver, { shared: true })]) {
      const times = await store.pullTimes('app');
      assert.deepEqual(Object.keys(times.tags).sort(), ['v1', 'v2']);
      assert.deepEqual(Object.keys(times.manifests).sort(), [DIGEST_A, DIGEST_B]);
    }
  });

  it('keeps the latest time of a tag pulled through several replicas', async () => {
    const driver = await openFilesystemDriver(mkdtempSync(join(tmpdir(), 'regop-pulls-')));
    const one = new RepositoryStore(driver, { shared: true });
    const two = new RepositoryStore(driver, { shared: true });
    one.recordPull('app', DIGEST_A, 'v1');
    await one.flushPulls();
    await new Promise((resolve) => setTimeout(resolve, 5));
    two.recordPull('app', DIGEST_A, 'v1');
    await two.flushPulls();
    const latest = (await two.pullTimes('app')).tags.v1!;
    assert.equal((await one.pullTimes('app')).tags.v1, latest);
  });

  it('writes one file on storage of its own, as before', async () => {
    const driver = await openFilesystemDriver(mkdtempSync(join(tmpdir(), 'regop-pulls-')));
    const store = new RepositoryStore(driver);
    store.recordPull('app', DIGEST_A, 'v1');
    await store.flushPulls();
    assert.deepEqual(await driver.list('repositories/app'), ['_pulls.json']);
    assert.ok((await new RepositoryStore(driver).pullTimes('app')).tags.v1);
  });
});
