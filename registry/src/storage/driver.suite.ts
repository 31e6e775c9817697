// The behaviour every StorageDriver must have, as distribution's storage driver test suite. An implementation's
// test file calls runDriverSuite with a factory for fresh, empty drivers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { PathNotFoundError, SizeMismatchError, type StorageDriver } from './driver.ts';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function failingSource(goodBytes: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(goodBytes);
      } else {
        this.destroy(new Error('client went away'));
      }
    },
  });
}

export function runDriverSuite(name: string, createDriver: () => Promise<StorageDriver>): void {
  describe(`storage driver contract: ${name}`, () => {
    it('reports missing paths as null from stat and PathNotFoundError from reads', async () => {
      const driver = await createDriver();
      assert.equal(await driver.stat('a/b'), null);
      await assert.rejects(driver.getContent('a/b'), PathNotFoundError);
      await assert.rejects(driver.reader('a/b'), PathNotFoundError);
      await assert.rejects(driver.open('a/b'), PathNotFoundError);
      assert.deepEqual(await driver.list('a'), []);
    });

    it('stores content atomically and replaces it', async () => {
      const driver = await createDriver();
      await driver.putContent('x/y/file', 'first');
      await driver.putContent('x/y/file', 'second!');
      assert.equal((await driver.getContent('x/y/file')).toString(), 'second!');
      const info = await driver.stat('x/y/file');
      assert.equal(info?.size, 7);
      assert.equal(info?.isDirectory, false);
      assert.deepEqual(await driver.list('x/y'), ['file']);
    });

    it('streams whole files and byte ranges', async () => {
      const driver = await createDriver();
      await driver.putContent('f', '0123456789');
      assert.equal((await readAll(await driver.reader('f'))).toString(), '0123456789');
      assert.equal((await readAll(await driver.reader('f', { start: 2, end: 5 }))).toString(), '2345');
    });

    it('reads at any position into a caller\'s buffer', async () => {
      const driver = await createDriver();
      await driver.putContent('f', '0123456789');
      const file = await driver.open('f');
      try {
        assert.equal(file.size, 10);
        const buffer = Buffer.alloc(4, '-');
        assert.equal(await file.read(buffer, 6, 4), 4);
        assert.equal(buffer.toString(), '6789');
        assert.equal(await file.read(buffer, 8, 4), 2, 'a short read at the end');
        assert.equal(buffer.subarray(0, 2).toString(), '89');
        assert.equal(await file.read(buffer, 10, 4), 0);
      } finally {
        await file.close();
      }
    });

    it('appends streams and returns the new size', async () => {
      const driver = await createDriver();
      assert.equal(await driver.append('u/data', Readable.from([Buffer.from('abc')])), 3);
      assert.equal(await driver.append('u/data', Readable.from([Buffer.from('defg')]), 4), 7);
      assert.equal((await driver.getContent('u/data')).toString(), 'abcdefg');
    });

    it('rolls an append back when the source fails, so no partial chunk remains', async () => {
      const driver = await createDriver();
      await driver.append('u/data', Readable.from([Buffer.from('keep')]));
      await assert.rejects(driver.append('u/data', failingSource(Buffer.from('partial'))), /client went away/);
      assert.equal((await driver.getContent('u/data')).toString(), 'keep');
    });

    it('rolls an append back when the length differs from the announced one', async () => {
      const driver = await createDriver();
      await assert.rejects(driver.append('u/data', Readable.from([Buffer.from('short')]), 10), SizeMismatchError);
      assert.equal((await driver.stat('u/data'))?.size ?? 0, 0);
    });

    it('appends streams of many MiB, rolls a failed one back and moves the result byte for byte', async () => {
      const driver = await createDriver();
      // past the size at which a driver may start writing back in the background (filesystem: 16 MiB)
      const block = Buffer.alloc(1024 * 1024, 7);
      const blocks = (n: number) => Readable.from(Array.from({ length: n }, () => block));
      assert.equal(await driver.append('big/data', blocks(20)), 20 * block.length);
      const failing = new Readable({
        read() {
          let sent = 0;
          while (sent++ < 24) this.push(block);
          this.destroy(new Error('client went away'));
        },
      });
      await assert.rejects(driver.append('big/data', failing), /client went away/);
      assert.equal((await driver.stat('big/data'))?.size, 20 * block.length);
      assert.equal(await driver.append('big/data', blocks(4), 4 * block.length), 24 * block.length);
      await driver.move('big/data', 'blobs/big');
      const content = await driver.getContent('blobs/big');
      assert.equal(content.length, 24 * block.length);
      assert.ok(content.every((byte) => byte === 7));
    });

    it('gives a stat version that changes when content is replaced', async () => {
      const driver = await createDriver();
      await driver.putContent('v', 'one');
      const first = (await driver.stat('v'))!.version;
      assert.equal((await driver.stat('v'))!.version, first);
      await driver.putContent('v', 'two');
      assert.notEqual((await driver.stat('v'))!.version, first);
    });

    it('moves files into place, overwriting', async () => {
      const driver = await createDriver();
      await driver.putContent('from', 'payload');
      await driver.putContent('to/target', 'old');
      await driver.move('from', 'to/target');
      assert.equal(await driver.stat('from'), null);
      assert.equal((await driver.getContent('to/target')).toString(), 'payload');
      await assert.rejects(driver.move('nothing', 'else'), PathNotFoundError);
    });

    it('deletes files and whole directories, and tolerates missing ones', async () => {
      const driver = await createDriver();
      await driver.putContent('d/one', '1');
      await driver.putContent('d/sub/two', '2');
      await driver.delete('d/one');
      assert.equal(await driver.stat('d/one'), null);
      assert.ok(await driver.stat('d/sub/two'), 'a file deletion leaves its neighbours');
      await driver.delete('d');
      assert.equal(await driver.stat('d'), null);
      await driver.delete('d');
      await driver.putContent('e/gone', '1');
      await driver.delete('e/gone');
      await driver.delete('e');
      assert.equal(await driver.stat('e'), null, 'an empty directory is deleted too');
    });

    it('refuses paths that escape the root', async () => {
      const driver = await createDriver();
      await assert.rejects(driver.putContent('../escape', 'x'));
      await assert.rejects(driver.getContent('a/../../etc/passwd'));
    });
  });
}
