// The S3 driver against a real S3 server (versitygw): the contract every driver passes, then what only an object
// store has (presigned URLs, the bucket check, orphaned multipart uploads, no work objects left behind).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { startS3Server, type S3Server } from '../../../test/support/s3-server.ts';
import type { S3StorageConfig } from '../config.ts';
import { runDriverSuite } from './driver.suite.ts';
import { DEFAULT_S3_TUNING, openS3Driver, type S3Driver, type S3Tuning } from './s3.ts';

const MiB = 1024 * 1024;
/** the smallest parts S3 allows, and copies split into parts well below S3's 5 GiB, so tests reach those paths */
const TEST_TUNING: S3Tuning = { partBytes: 5 * MiB, maxSingleCopyBytes: 8 * MiB, copyPartBytes: 10 * MiB };

let server: S3Server;
let buckets = 0;

before(async () => {
  // its request log lets a test count the requests an operation costs
  server = await startS3Server({ requestLog: true });
});

after(async () => {
  await server?.stop();
});

function configFor(bucket: string, prefix = ''): S3StorageConfig {
  return {
    bucket, prefix, endpoint: server.endpoint, region: server.region, forcePathStyle: true,
    ...server.writeCredentialFiles(), redirect: false,
  };
}

/** a fresh bucket, half the time with a key prefix */
async function freshStorage(tuning: S3Tuning = TEST_TUNING): Promise<{ config: S3StorageConfig; open: () => Promise<S3Driver> }> {
  const bucket = `contract-${++buckets}`;
  await server.createBucket(bucket);
  const config = configFor(bucket, buckets % 2 === 0 ? 'registries/team-a' : '');
  return { config, open: () => openS3Driver(config, tuning) };
}

let markers = 0;

/** the requests the S3 server answered while `action` ran, from its log: `<status> <method> <path>` each */
async function requestsDuring(action: () => Promise<unknown>): Promise<string[]> {
  const logged = () => server.logs().split('\n').filter((line) => line.includes('| vgw |'));
  const before = logged().length;
  await action();
  // the server logs a request once it has answered it: a request of its own after the action's marks the end
  const marker = `/request-log-marker-${++markers}`;
  await (await fetch(`${server.endpoint}${marker}`, { method: 'HEAD' })).arrayBuffer();
  const deadline = Date.now() + 10_000;
  while (!logged().slice(before).some((line) => line.includes(` ${marker} `)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return logged().slice(before).flatMap((line) => {
    const [, , status, , , method, path] = line.split('|').map((field) => field.trim());
    return path === marker ? [] : [`${status} ${method} ${path}`];
  });
}

async function openUploads(driver: S3Driver): Promise<number> {
  const page = await driver.bucket.client.send(new ListMultipartUploadsCommand({ Bucket: driver.bucket.name }));
  return page.Uploads?.length ?? 0;
}

runDriverSuite('s3 (versitygw)', () => freshStorage());

describe('S3 driver beyond the contract', () => {
  it('runs with its default part sizes: an append of several parts, read back', async () => {
    const driver = await (await freshStorage(DEFAULT_S3_TUNING)).open();
    const block = Buffer.alloc(MiB, 3);
    assert.equal(await driver.append('u/data', Readable.from(Array.from({ length: 23 }, () => block))), 23 * MiB);
    assert.equal(await driver.append('u/data', Readable.from([Buffer.from('!')])), 23 * MiB + 1);
    await driver.move('u/data', 'blobs/b');
    const content = await driver.getContent('blobs/b');
    assert.equal(content.length, 23 * MiB + 1);
    assert.equal(content.at(-1), '!'.charCodeAt(0));
  });

  it('leaves no work objects and no multipart uploads behind a move or a delete', async () => {
    const storage = await freshStorage();
    const driver = await storage.open();
    for (const id of ['a', 'b', 'c']) {
      await driver.append(`uploads/${id}/data`, Readable.from([Buffer.alloc(7 * MiB, 1)]));
      await driver.append(`uploads/${id}/data`, Readable.from([Buffer.alloc(MiB, 2)]));
      await driver.putContent(`uploads/${id}/info.json`, '{}');
    }
    assert.equal(await openUploads(driver), 3);
    assert.deepEqual(await driver.list(''), ['uploads'], 'work objects are not listed');
    await driver.move('uploads/a/data', 'blobs/a');
    await driver.delete('uploads/b/data');
    await driver.delete('uploads/b/info.json');
    await driver.delete('uploads/c');
    await driver.delete('uploads/a');
    assert.equal(await openUploads(driver), 0);
    const prefix = storage.config.prefix ? `${storage.config.prefix}/` : '';
    const leftovers: string[] = [];
    for await (const page of driver.bucket.listAll(`${prefix}.appends/`)) leftovers.push(...page.map((object) => object.key));
    assert.deepEqual(leftovers, []);
    // on the server's disk too: only the blob (versitygw keeps its own temporaries in .sgwtmp)
    const root = join(server.bucketDir(storage.config.bucket), storage.config.prefix);
    assert.deepEqual(readdirSync(root, { recursive: true }).filter((name) => !String(name).startsWith('.')), ['blobs', join('blobs', 'a')]);
    assert.deepEqual(await driver.list(''), ['blobs']);
  });

  it('serves a sequential read of a large file from one GET, and a re-read of the last chunk from memory', async () => {
    const storage = await freshStorage();
    const driver = await storage.open();
    // byte i is i % 251, so a byte read from the wrong offset shows
    const content = Buffer.from(Array.from({ length: 9 * MiB }, (_, index) => index % 251));
    await driver.putContent('blobs/big', content);
    const prefix = storage.config.prefix ? `${storage.config.prefix}/` : '';
    const requests = await requestsDuring(async () => {
      const file = await driver.open('blobs/big');
      const buffer = Buffer.alloc(MiB);
      try {
        let position = 0;
        for (let read = 0; read < 4; read++) position += await file.read(buffer, position, MiB);
        // the sender read a chunk ahead, then a slow client made it read that chunk again
        assert.equal(await file.read(buffer, position - MiB, MiB), MiB);
        assert.deepEqual(buffer, content.subarray(position - MiB, position));
        while (position < file.size) position += await file.read(buffer, position, MiB);
        assert.deepEqual(buffer, content.subarray(8 * MiB));
        assert.equal(await file.read(buffer, MiB, 10), 10, 'a seek back reopens');
        // the connection is cut under the reader (S3 closing a stream left idle by a slow client): it reopens there
        (file as unknown as { stream: { body: Readable } }).stream.body.destroy(new Error('connection reset'));
        await new Promise((resolve) => setImmediate(resolve));
        const again = Buffer.alloc(MiB, 0);
        assert.equal(await file.read(again, MiB + 10, MiB), MiB);
        assert.deepEqual(again, content.subarray(MiB + 10, 2 * MiB + 10));
      } finally {
        await file.close();
      }
    });
    const key = `/${storage.config.bucket}/${prefix}blobs/big`;
    assert.deepEqual(requests.filter((request) => request.includes(' GET ')), [
      `200 GET ${key}`, `206 GET ${key}`, `206 GET ${key}`,
    ], 'the whole file from the GET open() made, a GET for the seek and one to go on after the cut');
  });

  it('stores a small upload as one object: each step of its life costs S3 one or two requests', async () => {
    const storage = await freshStorage();
    const driver = await storage.open();
    const key = (path: string) => `/${storage.config.bucket}/${storage.config.prefix ? `${storage.config.prefix}/` : ''}${path}`;
    const small = Buffer.alloc(4096, 4);
    // an upload session: its info, its data in one append, stat, moved into place, the info deleted
    assert.deepEqual(await requestsDuring(() => driver.putContent('uploads/s/info.json', '{}')), [`200 PUT ${key('uploads/s/info.json')}`]);
    assert.deepEqual(await requestsDuring(() => driver.append('uploads/s/data', Readable.from([small]), small.length)), [
      `404 GET ${key('uploads/s/data')}`, `200 PUT ${key('uploads/s/data')}`,
    ], 'the append: one GET to find no file, one PUT');
    assert.deepEqual(await requestsDuring(async () => assert.equal((await driver.statFile('uploads/s/data'))?.size, 4096)), [
      `200 HEAD ${key('uploads/s/data')}`,
    ]);
    assert.deepEqual(await requestsDuring(async () => assert.equal(await driver.statFile('blobs/s'), null)), [`404 HEAD ${key('blobs/s')}`]);
    assert.deepEqual(await requestsDuring(() => driver.move('uploads/s/data', 'blobs/s')), [
      `200 PUT ${key('blobs/s')}`, `204 DELETE ${key('uploads/s/data')}`,
    ], 'the move: a conditional copy and a delete, no read first');
    assert.deepEqual(await requestsDuring(() => driver.delete('uploads/s/info.json')), [`204 DELETE ${key('uploads/s/info.json')}`]);
    assert.deepEqual(await driver.getContent('blobs/s'), small);
    assert.deepEqual(await driver.list('uploads'), []);
  });

  it('goes by what S3 holds when another instance changed a file this one wrote (a move copies only the object it wrote)', async () => {
    const storage = await freshStorage();
    const [first, second] = [await storage.open(), await storage.open()];
    await first.append('uploads/a/data', Readable.from([Buffer.from('abc')]));
    await second.append('uploads/a/data', Readable.from([Buffer.from('defg')]));
    await first.move('uploads/a/data', 'blobs/a');
    assert.equal((await second.getContent('blobs/a')).toString(), 'abcdefg');
    assert.equal(await second.stat('uploads/a/data'), null);

    // a delete trusts it: the other instance's work objects are left to the purge
    await first.append('uploads/b/data', Readable.from([Buffer.from('abc')]));
    await second.append('uploads/b/data', Readable.from([Buffer.alloc(6 * MiB, 1)]));
    await first.delete('uploads/b/data');
    assert.equal(await second.stat('uploads/b/data'), null);
    assert.ok(await second.abortOrphanedUploads('uploads', 0, Date.now() + 1000) > 0);
    assert.equal(await openUploads(second), 0);
    const prefix = storage.config.prefix ? `${storage.config.prefix}/` : '';
    for await (const page of second.bucket.listAll(`${prefix}.appends/`)) assert.deepEqual(page, []);
  });

  it('aborts multipart uploads a crash left behind, and keeps those of files being appended', async () => {
    const storage = await freshStorage();
    const driver = await storage.open();
    await driver.append('uploads/live/data', Readable.from([Buffer.alloc(6 * MiB, 1)]));
    // what an append that crashed before writing its state leaves: an upload under the file's work prefix
    const root = storage.config.prefix ? `${storage.config.prefix}/` : '';
    await driver.bucket.createUpload(`${root}.appends/uploads/crashed/data/upload-0`);
    await driver.bucket.put(`${root}.appends/uploads/crashed/data/tail-0`, 'stray');
    assert.equal(await openUploads(driver), 2);
    assert.equal(await driver.abortOrphanedUploads('uploads', 60_000), 0, 'younger than the age: kept');
    assert.equal(await driver.abortOrphanedUploads('uploads', 0, Date.now() + 1000), 2);
    assert.equal(await openUploads(driver), 1);
    assert.equal(await driver.append('uploads/live/data', Readable.from([Buffer.alloc(MiB, 2)])), 7 * MiB);
    assert.equal((await driver.getContent('uploads/live/data')).length, 7 * MiB);
  });

  it('hands out presigned URLs a client GETs without credentials', async () => {
    const driver = await (await freshStorage()).open();
    await driver.putContent('blobs/x', 'presigned bytes');
    const url = await driver.redirectUrl('blobs/x', 60);
    assert.ok(!url.includes(server.secretKey));
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'presigned bytes');
  });

  it('fails a read S3 refuses with an error naming the key and S3\'s code, never a signature or credential', async () => {
    const storage = await freshStorage();
    const missing = await openS3Driver({ ...storage.config, bucket: 'no-such-bucket' });
    const error = await missing.getContent('blobs/x').then(() => null, (thrown: Error) => thrown);
    assert.ok(error, 'a read from a missing bucket fails (it is not a missing file)');
    assert.match(error.message, /blobs\/x.*NoSuchBucket.*404/);
    for (const secret of ['X-Amz-Signature', 'X-Amz-Credential', server.accessKey, server.secretKey]) {
      assert.ok(!error.message.includes(secret) && !String(error.stack).includes(secret), `no ${secret} in the error`);
    }
  });

  it('checks the bucket, and names bucket, endpoint and error but no credential when it fails', async () => {
    const storage = await freshStorage();
    await (await storage.open()).check();
    const missing = await openS3Driver({ ...storage.config, bucket: 'no-such-bucket' });
    const error = await missing.check().then(() => null, (thrown: Error) => thrown);
    assert.ok(error, 'a missing bucket fails the check');
    assert.match(error.message, /no-such-bucket/);
    assert.match(error.message, new RegExp(server.endpoint.replace(/[.]/g, '\\.')));
    assert.match(error.message, /404|NotFound|NoSuchBucket/);
    assert.ok(!error.message.includes(server.accessKey) && !error.message.includes(server.secretKey));

    const keys = mkdtempSync(join(tmpdir(), 'regop-s3-keys-'));
    writeFileSync(join(keys, 'access'), server.accessKey);
    writeFileSync(join(keys, 'secret'), 'not-the-secret-at-all');
    const wrongSecret = await openS3Driver({ ...storage.config, accessKeyFile: join(keys, 'access'), secretKeyFile: join(keys, 'secret') });
    const denied = await wrongSecret.check().then(() => null, (thrown: Error) => thrown);
    rmSync(keys, { recursive: true });
    assert.ok(denied, 'wrong credentials fail the check');
    assert.match(denied.message, new RegExp(`${storage.config.bucket}.*403`));
    assert.ok(!denied.message.includes(server.accessKey) && !denied.message.includes('not-the-secret-at-all'));
  });
});
