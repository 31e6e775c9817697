import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesystemDriver } from '../storage/filesystem.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { MetadataCache } from './metadata-cache.ts';

/** a real filesystem driver that counts full reads and stats */
function countingDriver(): { driver: FilesystemDriver; reads: () => number; stats: () => number } {
  const driver = new FilesystemDriver(mkdtempSync(join(tmpdir(), 'regop-cache-')));
  let reads = 0;
  let stats = 0;
  const getContent = driver.getContent.bind(driver);
  const stat = driver.stat.bind(driver);
  driver.getContent = (path: string) => {
    reads++;
    return getContent(path);
  };
  driver.stat = (path: string) => {
    stats++;
    return stat(path);
  };
  return { driver, reads: () => reads, stats: () => stats };
}

describe('MetadataCache on storage shared with other writers', () => {
  it('serves an unchanged file from memory and rereads one another replica replaced', async () => {
    const { driver, reads } = countingDriver();
    const cache = new MetadataCache<{ digest: string }>(driver, { maxEntries: 10, shared: true });
    await driver.putContent('tags/latest', JSON.stringify({ digest: 'a' }));
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'a' });
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'a' });
    assert.equal(reads(), 1);
    await driver.putContent('tags/latest', JSON.stringify({ digest: 'b' }));
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'b' });
    assert.equal(reads(), 2);
  });

  it('does not serve even its own writes from memory: another replica may write right after', async () => {
    const { driver, reads } = countingDriver();
    const cache = new MetadataCache<{ digest: string }>(driver, { maxEntries: 10, shared: true });
    await cache.write('tags/latest', { digest: 'a' }, () => driver.putContent('tags/latest', JSON.stringify({ digest: 'a' })));
    await driver.putContent('tags/latest', JSON.stringify({ digest: 'b' }));
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'b' });
    assert.equal(reads(), 1);
  });

  it('answers null once another replica deleted the file, even when it was cached', async () => {
    const { driver } = countingDriver();
    const cache = new MetadataCache<{ digest: string }>(driver, { maxEntries: 10, shared: true });
    await driver.putContent('tags/old', JSON.stringify({ digest: 'a' }));
    await cache.read('tags/old');
    await driver.delete('tags/old');
    assert.equal(await cache.read('tags/old'), null);
    assert.equal(await cache.read('tags/never'), null);
  });
});

describe('MetadataCache on storage that reads content with its version in one request (an object store)', () => {
  /** a filesystem driver with a versioned read (as an object store's GET), counting versioned reads and file stats */
  function versionedDriver() {
    const driver: StorageDriver = new FilesystemDriver(mkdtempSync(join(tmpdir(), 'regop-cache-')));
    const statFile = driver.statFile.bind(driver);
    let versionedReads = 0;
    let fileStats = 0;
    driver.getVersionedContent = async (path: string) => {
      versionedReads++;
      const info = await statFile(path);
      return info ? { content: await driver.getContent(path), version: info.version } : null;
    };
    driver.statFile = (path: string) => {
      fileStats++;
      return statFile(path);
    };
    return { driver, versionedReads: () => versionedReads, fileStats: () => fileStats };
  }

  it('reads a file it holds nothing of in one request, then revalidates with a stat, and sees another writer', async () => {
    const storage = versionedDriver();
    const cache = new MetadataCache<{ digest: string }>(storage.driver, { maxEntries: 10, shared: true });
    await storage.driver.putContent('tags/latest', JSON.stringify({ digest: 'a' }));
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'a' });
    assert.deepEqual([storage.versionedReads(), storage.fileStats()], [1, 0], 'the first read: no stat before it');
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'a' });
    assert.deepEqual([storage.versionedReads(), storage.fileStats()], [1, 1], 'a cached file: one stat, no read');
    await storage.driver.putContent('tags/latest', JSON.stringify({ digest: 'b' }));
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'b' });
    assert.equal(await cache.read('tags/none'), null);
  });
});

describe('MetadataCache on storage this process alone writes', () => {
  it('answers hits without touching the storage and serves its own writes from memory', async () => {
    const { driver, reads, stats } = countingDriver();
    const cache = new MetadataCache<{ digest: string }>(driver, { maxEntries: 10, shared: false });
    await driver.putContent('tags/latest', JSON.stringify({ digest: 'a' }));
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'a' });
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'a' });
    assert.equal(reads(), 1);
    assert.equal(stats(), 0);
    await cache.write('tags/latest', { digest: 'b' }, () => driver.putContent('tags/latest', JSON.stringify({ digest: 'b' })));
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'b' });
    assert.equal(reads(), 1, 'the written value came from memory');
    await cache.write('tags/latest', null, () => driver.delete('tags/latest'));
    assert.equal(await cache.read('tags/latest'), null);
  });

  it('does not keep what a read overlapping a write returned: it may be the replaced content', async () => {
    const { driver } = countingDriver();
    const cache = new MetadataCache<{ digest: string }>(driver, { maxEntries: 10, shared: false });
    await driver.putContent('tags/latest', JSON.stringify({ digest: 'a' }));
    const overlapping = cache.read('tags/latest');
    // a write lands while the read is still under way
    await cache.write('tags/latest', { digest: 'b' }, () => driver.putContent('tags/latest', JSON.stringify({ digest: 'b' })));
    await overlapping;
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'b' });
  });

  it('ends with the content of the write that reached the storage last when writes of one path race', async () => {
    const { driver } = countingDriver();
    const cache = new MetadataCache<{ digest: string }>(driver, { maxEntries: 10, shared: false });
    const slowFirst = cache.write('tags/latest', { digest: 'a' }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      await driver.putContent('tags/latest', JSON.stringify({ digest: 'a' }));
    });
    const fastSecond = cache.write('tags/latest', { digest: 'b' }, () => driver.putContent('tags/latest', JSON.stringify({ digest: 'b' })));
    await Promise.all([slowFirst, fastSecond]);
    const onDisk = JSON.parse((await driver.getContent('tags/latest')).toString());
    assert.deepEqual(await cache.read('tags/latest'), onDisk);
  });

  it('keeps nothing of a write that failed: the file may or may not have changed', async () => {
    const { driver, reads } = countingDriver();
    const cache = new MetadataCache<{ digest: string }>(driver, { maxEntries: 10, shared: false });
    await driver.putContent('tags/latest', JSON.stringify({ digest: 'a' }));
    await cache.read('tags/latest');
    await assert.rejects(cache.write('tags/latest', { digest: 'b' }, async () => { throw new Error('disk full'); }));
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'a' });
    assert.equal(reads(), 2, 'read again from the storage');
  });

  it('keeps at most its number of entries, dropping the least recently used', async () => {
    const { driver, reads } = countingDriver();
    const cache = new MetadataCache<number>(driver, { maxEntries: 2, shared: false });
    for (const name of ['a', 'b', 'c']) await driver.putContent(name, '1');
    await cache.read('a');
    await cache.read('b');
    await cache.read('a');
    await cache.read('c');
    assert.equal(reads(), 3);
    await cache.read('a');
    assert.equal(reads(), 3, 'a was used recently and stays');
    await cache.read('b');
    assert.equal(reads(), 4, 'b was the least recently used and was dropped');
  });
});
