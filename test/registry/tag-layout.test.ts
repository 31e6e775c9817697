// A registry started on storage whose tags an older version wrote (a tag's record as the file `_tags/<tag>`, before
// tags became directories holding `_tags/<tag>/current`) lists and serves those tags at once, moves and deletes them:
// an upgrade loses no tag. On a directory and on an S3 bucket.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { clientFor, type Client } from '../support/http.ts';
import { OCI_MANIFEST, pushImage, type Blob } from '../support/oci.ts';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { startS3Server, type S3Server } from '../support/s3-server.ts';
import { withRegistryLogs } from './tools.ts';

const REPOSITORY = 'legacy/app';
/** names whose order as S3 keys of directories (`v1/` after `v1-rc/` and `v1.0/`) differs from their order */
const TAGS = ['latest', 'latest-arm64', 'v1', 'v1-rc', 'v1.0', 'v1.0.1'];

interface Storage {
  start(): Promise<RunningRegistry>;
  /** rewrites a tag as the older layout stored it, the registry being stopped */
  toOlderLayout(tag: string): Promise<void>;
  stop(): Promise<void>;
}

async function manifestDigest(client: Client, tag: string): Promise<string | number> {
  const response = await client.send('GET', `/v2/${REPOSITORY}/manifests/${tag}`, { headers: { accept: OCI_MANIFEST } });
  return response.status === 200 ? response.headers['docker-content-digest']! : response.status;
}

async function listedTags(client: Client, query = ''): Promise<{ tags: string[]; next?: string }> {
  const response = await client.send('GET', `/v2/${REPOSITORY}/tags/list${query}`);
  assert.equal(response.status, 200, response.body.toString());
  const next = /<[^>]*[?&](last=[^&>]+)[^>]*>; rel="next"/.exec(response.headers.link ?? '')?.[1];
  return { tags: (response.json() as { tags: string[] }).tags, ...(next ? { next } : {}) };
}

async function walkTags(client: Client, pageSize: number): Promise<string[]> {
  const walked: string[] = [];
  let query = `?n=${pageSize}`;
  for (let pages = 0; pages < 100; pages++) {
    const page = await listedTags(client, query);
    walked.push(...page.tags);
    if (!page.next) return walked;
    query = `?n=${pageSize}&${page.next}`;
  }
  throw new Error('the tag list did not end');
}

function olderLayoutScenarios(open: () => Promise<Storage>) {
  let storage: Storage;
  let registry: RunningRegistry;
  let client: Client;
  const pushed = new Map<string, Blob>();
  const tagPath = (tag: string) => join(registry.storageDir, 'repositories', REPOSITORY, '_tags', tag);

  before(async () => {
    storage = await open();
    const writer = await storage.start();
    const writerClient = clientFor(writer);
    for (const tag of TAGS) pushed.set(tag, await pushImage(writerClient, REPOSITORY, tag));
    await writerClient.close();
    await writer.stop();
    for (const tag of TAGS) await storage.toOlderLayout(tag);
    registry = await storage.start();
    client = clientFor(registry);
  });

  after(async () => {
    await client?.close();
    await registry?.stop();
    await storage?.stop();
  });

  it('lists the tags an older version wrote, whole and page by page, sorted', () => withRegistryLogs(registry, async () => {
    const sorted = [...TAGS].sort();
    assert.ok(statSync(tagPath('v1')).isFile(), 'the storage holds the older layout');
    assert.deepEqual((await listedTags(client)).tags, sorted);
    for (const pageSize of [1, 2, 4]) assert.deepEqual(await walkTags(client, pageSize), sorted, `pages of ${pageSize}`);
  }));

  it('serves each of those tags', () => withRegistryLogs(registry, async () => {
    for (const tag of TAGS) assert.equal(await manifestDigest(client, tag), pushed.get(tag)!.digest, tag);
  }));

  it('moves such a tag: the new record replaces the older file and is served, also after a restart', () => withRegistryLogs(registry, async () => {
    const moved = await pushImage(client, REPOSITORY, 'v1');
    assert.equal(await manifestDigest(client, 'v1'), moved.digest);
    assert.ok(statSync(join(tagPath('v1'), 'current')).isFile(), 'written as a directory with its record');
    assert.deepEqual((await listedTags(client)).tags, [...TAGS].sort());
    await registry.stop();
    registry = await storage.start();
    await client.close();
    client = clientFor(registry);
    assert.equal(await manifestDigest(client, 'v1'), moved.digest);
    assert.equal(await manifestDigest(client, 'v1-rc'), pushed.get('v1-rc')!.digest);
  }));

  it('deletes such a tag, and a manifest with the older tags naming it', () => withRegistryLogs(registry, async () => {
    assert.equal((await client.send('DELETE', `/v2/${REPOSITORY}/manifests/v1.0`)).status, 202);
    assert.equal(await manifestDigest(client, 'v1.0'), 404);
    assert.equal((await client.send('DELETE', `/v2/${REPOSITORY}/manifests/v1.0`)).status, 404);
    const latest = pushed.get('latest')!.digest;
    assert.equal((await client.send('DELETE', `/v2/${REPOSITORY}/manifests/${latest}`)).status, 202);
    assert.equal(await manifestDigest(client, 'latest'), 404);
    assert.deepEqual((await listedTags(client)).tags, ['latest-arm64', 'v1', 'v1-rc', 'v1.0.1']);
    assert.throws(() => statSync(tagPath('v1.0')), /ENOENT/);
  }));
}

describe('tags an older version wrote, on a directory', () => {
  olderLayoutScenarios(async () => {
    const storageDir = mkdtempSync(join(tmpdir(), 'regop-older-tags-'));
    return {
      start: () => startRegistry({ storageDir }),
      async toOlderLayout(tag) {
        const directory = join(storageDir, 'repositories', REPOSITORY, '_tags', tag);
        const record = readFileSync(join(directory, 'current'));
        rmSync(directory, { recursive: true });
        writeFileSync(directory, record);
      },
      async stop() {
        rmSync(storageDir, { recursive: true, force: true });
      },
    };
  });
});

describe('tags an older version wrote, on S3', () => {
  olderLayoutScenarios(async () => {
    const server: S3Server = await startS3Server();
    await server.createBucket('older');
    const s3 = new S3Client({
      endpoint: server.endpoint, region: server.region, forcePathStyle: true,
      credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const prefix = 'registry';
    return {
      start: () => startRegistry({ storage: { s3: { server, bucket: 'older', prefix } } }),
      async toOlderLayout(tag) {
        const key = `${prefix}/repositories/${REPOSITORY}/_tags/${tag}`;
        const current = await s3.send(new GetObjectCommand({ Bucket: 'older', Key: `${key}/current` }));
        const record = await current.Body!.transformToByteArray();
        // versitygw keeps objects as files: the directory must go before an object takes its name
        await s3.send(new DeleteObjectCommand({ Bucket: 'older', Key: `${key}/current` }));
        await s3.send(new PutObjectCommand({ Bucket: 'older', Key: key, Body: record }));
      },
      async stop() {
        s3.destroy();
        await server.stop();
      },
    };
  });
});
