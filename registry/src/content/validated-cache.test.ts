import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesystemDriver } from '../storage/filesystem.ts';
import { ValidatedJsonCache } from './validated-cache.ts';

/** a real filesystem driver that counts full reads */
function countingDriver(): { driver: FilesystemDriver; reads: () => number } {
  const driver = new FilesystemDriver(mkdtempSync(join(tmpdir(), 'regop-cache-')));
  let reads = 0;
  const getContent = driver.getContent.bind(driver);
  driver.getContent = (path: string) => {
    reads++;
    return getContent(path);
  };
  return { driver, reads: () => reads };
}

describe('ValidatedJsonCache', () => {
  it('serves an unchanged file from memory and rereads one that was replaced', async () => {
    const { driver, reads } = countingDriver();
    const cache = new ValidatedJsonCache<{ digest: string }>(driver, 10);
    await driver.putContent('tags/latest', JSON.stringify({ digest: 'a' }));
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'a' });
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'a' });
    assert.equal(reads(), 1);
    // another replica retags: same path, new file
    await driver.putContent('tags/latest', JSON.stringify({ digest: 'b' }));
    assert.deepEqual(await cache.read('tags/latest'), { digest: 'b' });
    assert.equal(reads(), 2);
  });

  it('answers null once the file is gone, even when it was cached', async () => {
    const { driver } = countingDriver();
    const cache = new ValidatedJsonCache<{ digest: string }>(driver, 10);
    await driver.putContent('tags/old', JSON.stringify({ digest: 'a' }));
    await cache.read('tags/old');
    await driver.delete('tags/old');
    assert.equal(await cache.read('tags/old'), null);
    assert.equal(await cache.read('tags/never'), null);
  });

  it('keeps at most its number of entries, dropping the least recently used', async () => {
    const { driver, reads } = countingDriver();
    const cache = new ValidatedJsonCache<number>(driver, 2);
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
