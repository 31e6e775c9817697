import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RegistryError } from '../errors.ts';
import { parseDigest } from '../oci/digest.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { openFilesystemDriver } from '../storage/filesystem.ts';
import { BlobStore } from './blob-store.ts';
import { paths } from './paths.ts';
import { UploadStore, type UploadStoreOptions } from './upload-store.ts';

/** A process of its own on `root`: its own driver, blob store and upload store; counts stats and full reads. */
async function replica(root: string, options: UploadStoreOptions) {
  const driver: StorageDriver = await openFilesystemDriver(root);
  const counts = { stat: 0, reader: 0 };
  const stat = driver.stat.bind(driver);
  const reader = driver.reader.bind(driver);
  driver.stat = (path) => {
    counts.stat++;
    return stat(path);
  };
  driver.reader = (path, range) => {
    counts.reader++;
    return reader(path, range);
  };
  const blobs = new BlobStore(driver);
  return { uploads: new UploadStore(driver, blobs, options), blobs, counts };
}

async function replicas(options: UploadStoreOptions = { shared: true }) {
  const root = mkdtempSync(join(tmpdir(), 'regop-uploads-'));
  return { root, a: await replica(root, options), b: await replica(root, options) };
}

const digestOf = (content: Buffer) => parseDigest(`sha256:${createHash('sha256').update(content).digest('hex')}`);
const failsWith = (code: string) => (error: unknown) => error instanceof RegistryError && error.descriptor.code === code;

describe('upload sessions on storage shared by several processes', () => {
  it('a chunked upload alternating between two processes completes with the right digest', async () => {
    const { a, b } = await replicas();
    const chunks = [randomBytes(3000), randomBytes(5000), randomBytes(1000), randomBytes(700)];
    const { id } = await a.uploads.create('r', 'user:dev');
    let offset = 0;
    for (const [index, chunk] of chunks.entries()) {
      const target = index % 2 === 0 ? a : b;
      offset = await target.uploads.appendChunk('r', id, Readable.from([chunk]), { start: offset, length: chunk.length });
      assert.equal(await (index % 2 === 0 ? b : a).uploads.size('r', id), offset, 'the other process reports the new offset');
    }
    const content = Buffer.concat(chunks);
    const completed = await a.uploads.complete('r', id, digestOf(content));
    assert.equal(completed.size, content.length);
    assert.equal(await a.blobs.size(digestOf(content)), content.length);
  });

  it('chunks without Content-Range (as docker sends them) land after the bytes the other process stored', async () => {
    const { a, b } = await replicas();
    const first = randomBytes(4096);
    const second = randomBytes(2048);
    const { id } = await b.uploads.create('r', 'user:dev');
    await a.uploads.appendChunk('r', id, Readable.from([first]));
    await b.uploads.appendChunk('r', id, Readable.from([second]));
    const content = Buffer.concat([first, second]);
    await a.uploads.complete('r', id, digestOf(content));
    assert.equal(await b.blobs.size(digestOf(content)), content.length);
  });

  it('refuses a chunk at an offset the other process already moved past, with the stored offset', async () => {
    const { a, b } = await replicas();
    const { id } = await a.uploads.create('r', 'user:dev');
    await a.uploads.appendChunk('r', id, Readable.from([randomBytes(100)]), { start: 0, length: 100 });
    await b.uploads.appendChunk('r', id, Readable.from([randomBytes(50)]), { start: 100, length: 50 });
    await assert.rejects(a.uploads.appendChunk('r', id, Readable.from([randomBytes(10)]), { start: 100, length: 10 }),
      (error: unknown) => failsWith('RANGE_INVALID')(error) && /offset 150/.test((error as Error).message));
  });

  it('keeps the hash of a session only it served, and reads the data back once when another process appended', async () => {
    const { a, b } = await replicas();
    const own = randomBytes(10_000);
    const session = await a.uploads.create('r', 'user:dev');
    await a.uploads.appendChunk('r', session.id, Readable.from([own]));
    await a.uploads.complete('r', session.id, digestOf(own));
    assert.equal(a.counts.reader, 0, 'no read of the data: the hash was computed as the bytes arrived');

    const moved = [randomBytes(10_000), randomBytes(10_000)];
    const shared = await a.uploads.create('r', 'user:dev');
    await a.uploads.appendChunk('r', shared.id, Readable.from([moved[0]!]));
    await b.uploads.appendChunk('r', shared.id, Readable.from([moved[1]!]));
    await a.uploads.complete('r', shared.id, digestOf(Buffer.concat(moved)));
    assert.equal(a.counts.reader, 1, 'the data is read once to hash it');
  });

  it('a session completed or cancelled on one process is unknown on the other, which writes nothing for it', async () => {
    const { root, a, b } = await replicas();
    const content = randomBytes(1000);
    const completed = await a.uploads.create('r', 'user:dev');
    await b.uploads.appendChunk('r', completed.id, Readable.from([content]));
    await b.uploads.complete('r', completed.id, digestOf(content));
    await assert.rejects(a.uploads.size('r', completed.id), failsWith('BLOB_UPLOAD_UNKNOWN'));
    await assert.rejects(a.uploads.appendChunk('r', completed.id, Readable.from([randomBytes(10)])), failsWith('BLOB_UPLOAD_UNKNOWN'));
    assert.equal(existsSync(join(root, paths.upload(completed.id))), false, 'no data file is written for the closed session');

    const cancelled = await a.uploads.create('r', 'user:dev');
    await a.uploads.appendChunk('r', cancelled.id, Readable.from([content]));
    await b.uploads.cancel('r', cancelled.id);
    await assert.rejects(a.uploads.complete('r', cancelled.id, digestOf(content)), failsWith('BLOB_UPLOAD_UNKNOWN'));
    await assert.rejects(a.uploads.cancel('r', cancelled.id), failsWith('BLOB_UPLOAD_UNKNOWN'));
  });

  it('frees the slots of sessions another process closed when the owner reaches the per-process cap', async () => {
    const { a, b } = await replicas({ shared: true, maxSessionsPerOwner: 2 });
    for (let i = 0; i < 3; i++) {
      const content = randomBytes(100);
      const { id } = await a.uploads.create('r', 'user:dev');
      await b.uploads.complete('r', id, digestOf(content), Readable.from([content]));
    }
    await a.uploads.create('r', 'user:dev');
    await a.uploads.create('r', 'user:dev');
    await assert.rejects(a.uploads.create('r', 'user:dev'), failsWith('TOOMANYREQUESTS'), 'two sessions really are open');
  });

  it('the purge forgets sessions another process closed', async () => {
    const { a, b } = await replicas({ shared: true, maxSessionsPerOwner: 1 });
    const { id } = await a.uploads.create('r', 'user:dev');
    await b.uploads.cancel('r', id);
    assert.equal(await a.uploads.purgeStale(60_000), 0);
    const before = a.counts.stat;
    await a.uploads.create('r', 'user:dev');
    assert.equal(a.counts.stat, before, 'the slot was already free: no check of the owner\'s sessions');
  });
});

describe('upload sessions on storage this process alone writes', () => {
  it('reads no size from storage per chunk', async () => {
    const { a } = await replicas({ shared: false });
    const { id } = await a.uploads.create('r', 'user:dev');
    await a.uploads.appendChunk('r', id, Readable.from([randomBytes(100)]));
    const before = a.counts.stat;
    await a.uploads.appendChunk('r', id, Readable.from([randomBytes(100)]), { start: 100, length: 100 });
    assert.equal(await a.uploads.size('r', id), 200);
    assert.equal(a.counts.stat, before);
  });
});
