// The behaviour every StorageDriver must have, as distribution's storage driver test suite. An implementation's
// test file calls runDriverSuite with a factory for fresh, empty storage, on which it opens driver instances:
// two instances on one storage stand for two replicas.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { PathNotFoundError, SizeMismatchError, type StorageDriver } from './driver.ts';

export interface TestStorage {
  /** a driver instance on this storage; each call makes another */
  open(): Promise<StorageDriver>;
}

const MiB = 1024 * 1024;

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

/** `count` blocks of a MiB, each different (a block repeated would hide bytes out of place), made as read */
function generatedBlocks(count: number, seed: string): { source: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  async function* blocks(): AsyncGenerator<Buffer> {
    for (let index = 0; index < count; index++) {
      const block = Buffer.alloc(MiB, `${seed}:${index}:`);
      hash.update(block);
      yield block;
    }
  }
  return { source: Readable.from(blocks(), { objectMode: false }), sha256: () => hash.digest('hex') };
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** reads a whole file through open(), sequentially into one reused buffer, as a sender does */
async function sha256ThroughReader(driver: StorageDriver, path: string): Promise<{ size: number; sha256: string }> {
  const file = await driver.open(path);
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.alloc(MiB);
    let position = 0;
    for (;;) {
      const read = await file.read(buffer, position, buffer.length);
      if (read === 0) break;
      hash.update(buffer.subarray(0, read));
      position += read;
    }
    return { size: file.size, sha256: hash.digest('hex') };
  } finally {
    await file.close();
  }
}

/** a source that yields `goodBytes` and then fails */
function failingAfter(goodBytes: number): Readable {
  async function* blocks(): AsyncGenerator<Buffer> {
    for (let sent = 0; sent < goodBytes; sent += MiB) yield Buffer.alloc(Math.min(MiB, goodBytes - sent), 9);
    throw new Error('client went away');
  }
  return Readable.from(blocks(), { objectMode: false });
}

export function runDriverSuite(name: string, createStorage: () => Promise<TestStorage>): void {
  const createDriver = async () => (await createStorage()).open();
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

    it('reads content with the version a stat shows, where the driver offers that read (getVersionedContent)', async (t) => {
      const driver = await createDriver();
      if (!driver.getVersionedContent) return t.skip('no versioned read: a stat is cheap here');
      await driver.putContent('v/file', 'first');
      const first = await driver.getVersionedContent('v/file');
      assert.equal(first?.content.toString(), 'first');
      assert.equal(first?.version, (await driver.statFile('v/file'))?.version);
      await driver.putContent('v/file', 'second');
      const second = await driver.getVersionedContent('v/file');
      assert.equal(second?.content.toString(), 'second');
      assert.notEqual(second?.version, first?.version);
      assert.equal(second?.version, (await driver.statFile('v/file'))?.version);
      assert.equal(await driver.getVersionedContent('v/none'), null);
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

    it('continues an append another driver instance (another replica) made, on the same storage', async () => {
      const storage = await createStorage();
      const [first, second] = [await storage.open(), await storage.open()];
      const hash = createHash('sha256');
      const append = async (driver: StorageDriver, bytes: Buffer) => {
        hash.update(bytes);
        return driver.append('u/data', Readable.from([bytes]), bytes.length);
      };
      assert.equal(await append(first, Buffer.from('abc')), 3);
      assert.equal(await append(second, Buffer.from('defg')), 7);
      // sizes that cross a multipart driver's part boundaries, from either side
      assert.equal(await append(first, Buffer.alloc(9 * MiB, 1)), 9 * MiB + 7);
      assert.equal(await append(second, Buffer.alloc(3 * MiB, 2)), 12 * MiB + 7);
      assert.equal((await first.stat('u/data'))?.size, 12 * MiB + 7);
      assert.equal(await append(first, Buffer.from('end')), 12 * MiB + 10);
      assert.equal(await sha256Of(await second.reader('u/data')), hash.digest('hex'));
      assert.deepEqual(await first.list('u'), ['data']);
    });

    it('reads a file between appends at the size appended so far: stat, reader and open', async () => {
      const storage = await createStorage();
      const [writer, reader] = [await storage.open(), await storage.open()];
      await writer.append('u/data', Readable.from([Buffer.from('hello')]));
      assert.equal((await reader.stat('u/data'))?.size, 5);
      assert.equal((await readAll(await reader.reader('u/data'))).toString(), 'hello');
      await writer.append('u/data', Readable.from([Buffer.alloc(11 * MiB, 'x')]));
      const size = 11 * MiB + 5;
      assert.equal((await reader.stat('u/data'))?.size, size);
      assert.equal((await readAll(await reader.reader('u/data', { start: 3, end: 6 }))).toString(), 'loxx');
      const file = await reader.open('u/data');
      try {
        assert.equal(file.size, size);
        const buffer = Buffer.alloc(4);
        assert.equal(await file.read(buffer, size - 2, 4), 2);
        assert.equal(buffer.subarray(0, 2).toString(), 'xx');
        assert.equal(await file.read(buffer, 2, 4), 4);
        assert.equal(buffer.toString(), 'llox');
      } finally {
        await file.close();
      }
      // and appends go on after those reads, from either instance
      await writer.append('u/data', Readable.from([Buffer.from('!')]));
      await reader.append('u/data', Readable.from([Buffer.alloc(6 * MiB, 'y')]));
      const content = await writer.getContent('u/data');
      assert.equal(content.length, 17 * MiB + 6);
      assert.equal(content.subarray(0, 6).toString(), 'hellox');
      assert.equal(content.subarray(size - 1, size + 2).toString(), 'x!y');
      assert.equal(content.at(-1), 'y'.charCodeAt(0));
    });

    it('keeps the previous content when an append fails in the middle of a body of several parts', async () => {
      const storage = await createStorage();
      const driver = await storage.open();
      await driver.append('u/data', Readable.from([Buffer.alloc(MiB + 1, 5)]));
      await assert.rejects(driver.append('u/data', failingAfter(23 * MiB)), /client went away/);
      const other = await storage.open();
      assert.equal((await other.stat('u/data'))?.size, MiB + 1);
      assert.equal(await other.append('u/data', failingAfter(0)).catch(() => 'failed'), 'failed');
      await assert.rejects(other.append('u/data', Readable.from([Buffer.alloc(12 * MiB, 6)]), 13 * MiB), SizeMismatchError);
      assert.equal(await other.append('u/data', Readable.from([Buffer.alloc(2 * MiB, 6)])), 3 * MiB + 1);
      const content = await driver.getContent('u/data');
      assert.equal(content.length, 3 * MiB + 1);
      assert.ok(content.subarray(0, MiB + 1).every((byte) => byte === 5));
      assert.ok(content.subarray(MiB + 1).every((byte) => byte === 6));
    });

    it('appends 25 MiB streamed from a generator, moves it and reads it back byte for byte', async () => {
      const driver = await createDriver();
      const blocks = generatedBlocks(25, 'large');
      assert.equal(await driver.append('u/data', blocks.source, 25 * MiB), 25 * MiB);
      const expected = blocks.sha256();
      await driver.move('u/data', 'blobs/large');
      assert.equal(await driver.stat('u/data'), null);
      assert.equal((await driver.stat('blobs/large'))?.size, 25 * MiB);
      assert.equal(await sha256Of(await driver.reader('blobs/large')), expected);
      assert.deepEqual(await sha256ThroughReader(driver, 'blobs/large'), { size: 25 * MiB, sha256: expected });
      const block7 = Buffer.alloc(MiB, 'large:7:');
      const range = await readAll(await driver.reader('blobs/large', { start: 7 * MiB - 3, end: 8 * MiB + 2 }));
      assert.deepEqual(range.subarray(3, 3 + MiB), block7);
    });

    it('moves an appended file over an existing one', async () => {
      const driver = await createDriver();
      await driver.putContent('blobs/target', 'old content');
      await driver.append('u/data', Readable.from([Buffer.from('new')]));
      await driver.append('u/data', Readable.from([Buffer.from(' content!')]));
      await driver.move('u/data', 'blobs/target');
      assert.equal((await driver.getContent('blobs/target')).toString(), 'new content!');
      assert.equal(await driver.stat('u/data'), null);
      assert.deepEqual(await driver.list('u'), []);
    });

    it('deletes an appended file, and a later append starts afresh', async () => {
      const driver = await createDriver();
      await driver.append('u/one/data', Readable.from([Buffer.alloc(12 * MiB, 1)]));
      await driver.append('u/two/data', Readable.from([Buffer.alloc(12 * MiB, 2)]));
      await driver.putContent('u/two/info', '{}');
      await driver.delete('u/one/data');
      assert.equal(await driver.stat('u/one/data'), null);
      await assert.rejects(driver.open('u/one/data'), PathNotFoundError);
      assert.equal(await driver.append('u/one/data', Readable.from([Buffer.from('again')])), 5);
      assert.equal((await driver.getContent('u/one/data')).toString(), 'again');
      await driver.delete('u/two');
      assert.equal(await driver.stat('u/two/data'), null);
      assert.equal(await driver.stat('u/two'), null);
      assert.deepEqual(await driver.list('u'), ['one']);
    });

    it('lists a directory of more than 1,000 entries (past one listing page)', async () => {
      const driver = await createDriver();
      const names = Array.from({ length: 1005 }, (_, index) => `tag-${String(index).padStart(4, '0')}`);
      const limit = pLimit(32);
      await Promise.all(names.map((entry) => limit(() => driver.putContent(`r/_tags/${entry}`, entry))));
      await driver.putContent('r/_tags/zz/nested', 'x');
      assert.deepEqual((await driver.list('r/_tags')).sort(), [...names, 'zz'].sort());
    });

    it('lists a page of a directory: sorted, after a name, at most a number of names', async () => {
      const driver = await createDriver();
      const names = ['v1', 'v1-rc', 'v1.0', 'v1.0.1', 'v10', 'v2', 'v2_beta', 'w'];
      await Promise.all(names.map((entry) => driver.putContent(`p/_tags/${entry}`, entry)));
      await driver.putContent('p/_tags/v1x/below', 'a directory among the files');
      const sorted = [...names, 'v1x'].sort();
      assert.deepEqual(await driver.list('p/_tags', {}), sorted);
      assert.deepEqual(await driver.list('p/_tags', { limit: 3 }), sorted.slice(0, 3));
      assert.deepEqual(await driver.list('p/_tags', { after: 'v1' }), sorted.filter((name) => name > 'v1'));
      assert.deepEqual(await driver.list('p/_tags', { after: 'v1.0', limit: 2 }), ['v1.0.1', 'v10']);
      assert.deepEqual(await driver.list('p/_tags', { after: 'v0', limit: 100 }), sorted);
      assert.deepEqual(await driver.list('p/_tags', { after: 'v1x' }), ['v2', 'v2_beta', 'w']);
      assert.deepEqual(await driver.list('p/_tags', { after: 'w' }), []);
      assert.deepEqual(await driver.list('p/_tags', { limit: 0 }), []);
      assert.deepEqual(await driver.list('p/missing', { limit: 5 }), []);
    });

    it('lists pages of directories sorted by name, whatever order an object store keeps their keys in', async () => {
      const driver = await createDriver();
      // an object store lists `v1/` after `v1-rc/` and `v1.0/`, `a/` after `a-b/`: '-' and '.' sort before '/'
      const names = ['a', 'a-b', 'a.b', 'a0', 'latest', 'latest-arm64', 'v1', 'v1-rc', 'v1.0', 'v1.0-rc', 'v1.0.1', 'v10', 'w'];
      await Promise.all(names.map((entry) => driver.putContent(`q/_tags/${entry}/current`, entry)));
      const sorted = [...names].sort();
      assert.deepEqual(await driver.list('q/_tags', {}), sorted);
      for (const after of [undefined, '', ...names, 'v1-', 'v1.', 'v1.0.0', 'z']) {
        for (let limit = 1; limit <= names.length + 1; limit++) {
          const expected = sorted.filter((name) => after === undefined || name > after).slice(0, limit);
          assert.deepEqual(await driver.list('q/_tags', { ...(after === undefined ? {} : { after }), limit }), expected, `after ${after}, limit ${limit}`);
        }
      }
      // walking page by page meets every name once, in order
      for (const limit of [1, 2, 5]) {
        const walked: string[] = [];
        for (let page = await driver.list('q/_tags', { limit }); page.length > 0; page = await driver.list('q/_tags', { after: walked.at(-1)!, limit })) {
          walked.push(...page);
        }
        assert.deepEqual(walked, sorted, `pages of ${limit}`);
      }
    });

    it('lists names with characters an XML listing escapes', async () => {
      const driver = await createDriver();
      const names = ['a&b', 'c<d>e', 'f"g\'h', 'i j'];
      await Promise.all(names.map((name) => driver.putContent(`x/${name}`, name)));
      await driver.putContent('x/k&l/m', 'below');
      assert.deepEqual(await driver.list('x', {}), [...names, 'k&l'].sort());
      assert.deepEqual(await driver.list('x', { after: 'a&b', limit: 1 }), ['c<d>e']);
      if (driver.listFiles) {
        const files: string[] = [];
        for await (const file of driver.listFiles('x')) files.push(file.path);
        assert.deepEqual(files.sort(), [...names.map((name) => `x/${name}`), 'x/k&l/m'].sort());
      }
    });

    it('has no content at the path of a directory', async () => {
      const driver = await createDriver();
      await driver.putContent('t/_tags/v1/current', 'x');
      await assert.rejects(driver.getContent('t/_tags/v1'), PathNotFoundError);
      await assert.rejects(driver.getContent('t/_tags'), PathNotFoundError);
    });

    it('tells a directory from a file in stat', async () => {
      const driver = await createDriver();
      await driver.putContent('d/sub/file', 'abc');
      assert.equal((await driver.stat('d'))?.isDirectory, true);
      assert.equal((await driver.stat('d/sub'))?.isDirectory, true);
      const file = await driver.stat('d/sub/file');
      assert.equal(file?.isDirectory, false);
      assert.equal(file?.size, 3);
      assert.equal(await driver.stat('d/su'), null, 'a prefix of a name is not a directory');
      assert.equal(await driver.stat('d/sub/file/deeper'), null);
      // statFile: files only
      assert.equal(await driver.statFile('d'), null);
      assert.equal(await driver.statFile('d/sub'), null);
      assert.equal(await driver.statFile('d/sub/missing'), null);
      assert.deepEqual(await driver.statFile('d/sub/file'), file);
      await driver.append('d/appended', Readable.from([Buffer.from('abcd')]));
      await driver.append('d/appended', Readable.from([Buffer.from('efg')]));
      assert.equal((await driver.statFile('d/appended'))?.size, 7);
    });

    it('lists every file below a path with sizes and times, when the driver offers a flat listing', async (t) => {
      const driver = await createDriver();
      if (!driver.listFiles) return t.skip('no listFiles');
      await driver.putContent('blobs/sha256/ab/ab1', 'one');
      await driver.putContent('blobs/sha256/cd/cd2', 'two!');
      await driver.putContent('elsewhere/file', 'x');
      await driver.append('blobs-upload/data', Readable.from([Buffer.from('appended')]));
      const files = [];
      for await (const file of driver.listFiles('blobs')) files.push(file);
      assert.deepEqual(files.map((file) => [file.path, file.size, file.isDirectory]).sort(), [
        ['blobs/sha256/ab/ab1', 3, false], ['blobs/sha256/cd/cd2', 4, false],
      ]);
      assert.ok(files.every((file) => file.modifiedAt instanceof Date && file.version !== ''));
    });

    it('deletes files in bulk, when the driver offers it, absent ones being no error', async (t) => {
      const driver = await createDriver();
      if (!driver.deleteFiles) return t.skip('no deleteFiles');
      const names = Array.from({ length: 1010 }, (_, index) => `b/${index % 7}/f${index}`);
      const limit = pLimit(32);
      await Promise.all(names.map((path) => limit(() => driver.putContent(path, 'x'))));
      await driver.putContent('b/keep', 'kept');
      await driver.deleteFiles([...names, 'b/never-was']);
      assert.deepEqual(await driver.list('b'), ['keep']);
    });

    it('refuses paths that escape the root', async () => {
      const driver = await createDriver();
      await assert.rejects(driver.putContent('../escape', 'x'));
      await assert.rejects(driver.getContent('a/../../etc/passwd'));
    });
  });
}
