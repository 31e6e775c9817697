import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import pino from 'pino';
import { BlobStore } from '../content/blob-store.ts';
import { ManifestService } from '../content/manifest-service.ts';
import { RepositoryStore } from '../content/repository-store.ts';
import { UploadStore } from '../content/upload-store.ts';
import { RegistryError } from '../errors.ts';
import { digestOf, tryParseDigest } from '../oci/digest.ts';
import { RegistryMetrics } from '../ops/metrics.ts';
import type { FileReader } from '../storage/driver.ts';
import { openFilesystemDriver } from '../storage/filesystem.ts';
import { MirrorService, type Upstream } from './service.ts';
import { UpstreamError, type UpstreamBlob, type UpstreamManifest } from './upstream.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** An upstream in memory that counts what it is asked and can fail on demand. */
class FakeUpstream implements Upstream {
  readonly host = 'upstream.test:443';
  readonly manifests = new Map<string, UpstreamManifest>();
  readonly tags = new Map<string, string>();
  readonly blobs = new Map<string, Buffer>();
  calls = { head: 0, manifest: 0, blob: 0 };
  failure: UpstreamError | null = null;
  /** when set, blob bodies are this stream instead of the stored bytes */
  blobBody: (() => Readable) | null = null;
  corrupt = false;

  addImage(repository: string, tag: string, layer: Buffer): { manifest: UpstreamManifest; layerDigest: string } {
    const config = Buffer.from('{}');
    const configDigest = digestOf(config);
    const layerDigest = digestOf(layer);
    this.blobs.set(configDigest, config);
    this.blobs.set(layerDigest, layer);
    const content = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }));
    const manifest = { digest: digestOf(content), mediaType: OCI_MANIFEST, size: content.length, content };
    this.manifests.set(manifest.digest, manifest);
    this.tags.set(`${repository}:${tag}`, manifest.digest);
    return { manifest, layerDigest };
  }

  private lookup(repository: string, reference: string): UpstreamManifest | null {
    const digest = reference.includes(':') ? reference : this.tags.get(`${repository}:${reference}`);
    return (digest ? this.manifests.get(digest) : undefined) ?? null;
  }

  async headManifest(repository: string, reference: string) {
    this.calls.head++;
    if (this.failure) throw this.failure;
    const manifest = this.lookup(repository, reference);
    return manifest && { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size };
  }

  async getManifest(repository: string, reference: string) {
    this.calls.manifest++;
    if (this.failure) throw this.failure;
    return this.lookup(repository, reference);
  }

  async getBlob(_repository: string, digest: string): Promise<UpstreamBlob | null> {
    this.calls.blob++;
    if (this.failure) throw this.failure;
    const bytes = this.blobs.get(digest);
    if (!bytes) return null;
    if (this.blobBody) return { size: bytes.length, body: this.blobBody() };
    const sent = this.corrupt ? Buffer.from(bytes.map((byte) => byte ^ 0xff)) : bytes;
    return { size: bytes.length, body: Readable.from([sent.subarray(0, sent.length >> 1), sent.subarray(sent.length >> 1)]) };
  }
}

async function readAll(reader: FileReader, size: number): Promise<Buffer> {
  const out = Buffer.alloc(size);
  let position = 0;
  try {
    while (position < size) {
      const read = await reader.read(out.subarray(position), position, size - position);
      if (read === 0) throw new Error(`ended at ${position}`);
      position += read;
    }
  } finally {
    await reader.close();
  }
  return out;
}

async function setup(tagTtlMs = 60_000) {
  const driver = await openFilesystemDriver(mkdtempSync(join(tmpdir(), 'regop-mirror-')));
  const blobs = new BlobStore(driver);
  const repositories = new RepositoryStore(driver);
  const uploads = new UploadStore(driver, blobs);
  const manifests = new ManifestService(blobs, repositories, { cacheBytes: 1 << 20, maxBytes: 4 << 20 });
  const metrics = new RegistryMetrics();
  const upstream = new FakeUpstream();
  const service = new MirrorService(
    [{ name: 'docker.io', upstreamUrl: 'https://upstream.test', upstream, tagTtlMs }],
    { blobs, uploads, repositories, manifests, metrics },
    pino({ level: 'silent' }),
  );
  return { service, upstream, blobs, repositories, metrics };
}

const failureCode = (code: string) => (error: unknown) => error instanceof RegistryError && error.descriptor.code === code;

describe('mirror service: manifests', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeEach(async () => {
    env = await setup();
  });

  it('maps docker.io/<name> to library/<name> and fetches a tag once, then serves it from the store', async () => {
    const { manifest } = env.upstream.addImage('library/busybox', '1', Buffer.from('layer'));
    const first = await env.service.manifest('docker.io/busybox', '1', 'GET');
    assert.equal(first.digest.value, manifest.digest);
    assert.deepEqual(first.content, manifest.content);
    const second = await env.service.manifest('docker.io/busybox', '1', 'GET');
    assert.equal(second.digest.value, manifest.digest);
    assert.deepEqual(env.upstream.calls, { head: 0, manifest: 1, blob: 0 });
  });

  it('revalidates a tag older than tagTTL with one HEAD, and follows it when it moved', async () => {
    env = await setup(0);
    env.upstream.addImage('library/busybox', '1', Buffer.from('one'));
    await env.service.manifest('docker.io/library/busybox', '1', 'GET');
    await env.service.manifest('docker.io/library/busybox', '1', 'HEAD');
    assert.deepEqual(env.upstream.calls, { head: 1, manifest: 1, blob: 0 });
    const { manifest: moved } = env.upstream.addImage('library/busybox', '1', Buffer.from('two'));
    const served = await env.service.manifest('docker.io/library/busybox', '1', 'GET');
    assert.equal(served.digest.value, moved.digest);
    assert.deepEqual(env.upstream.calls, { head: 2, manifest: 2, blob: 0 });
  });

  it('never revalidates a manifest asked for by digest', async () => {
    env = await setup(0);
    const { manifest } = env.upstream.addImage('library/busybox', '1', Buffer.from('one'));
    await env.service.manifest('docker.io/library/busybox', manifest.digest, 'GET');
    await env.service.manifest('docker.io/library/busybox', manifest.digest, 'GET');
    assert.deepEqual(env.upstream.calls, { head: 0, manifest: 1, blob: 0 });
  });

  it('coalesces concurrent requests for a missing manifest into one upstream fetch', async () => {
    env.upstream.addImage('library/busybox', '1', Buffer.from('one'));
    await Promise.all(Array.from({ length: 5 }, () => env.service.manifest('docker.io/busybox', '1', 'GET')));
    assert.equal(env.upstream.calls.manifest, 1);
  });

  it('serves the cached tag when the upstream fails or rate-limits, and counts it as stale', async () => {
    env = await setup(0);
    const { manifest } = env.upstream.addImage('library/busybox', '1', Buffer.from('one'));
    await env.service.manifest('docker.io/busybox', '1', 'GET');
    env.upstream.failure = new UpstreamError('rate-limited', 'upstream upstream.test:443 is rate limiting (429)', { status: 429 });
    const served = await env.service.manifest('docker.io/busybox', '1', 'GET');
    assert.equal(served.digest.value, manifest.digest);
    assert.match(await env.metrics.render().then((m) => m.body), /regop_registry_mirror_stale_served_total\{mirror="docker.io"\} 1/);
  });

  it('fails an uncached manifest with an error naming the upstream: 503 when down, 429 when rate limited, 404 when missing', async () => {
    env.upstream.failure = new UpstreamError('unreachable', 'upstream upstream.test:443 is unreachable (ECONNREFUSED)');
    await assert.rejects(env.service.manifest('docker.io/busybox', '1', 'GET'), (error: unknown) =>
      failureCode('UNAVAILABLE')(error) && /not cached and upstream https:\/\/upstream\.test failed/.test((error as Error).message));
    env.upstream.failure = new UpstreamError('rate-limited', 'rate limited', { status: 429, retryAfterS: 7 });
    await assert.rejects(env.service.manifest('docker.io/busybox', '2', 'GET'), (error: unknown) =>
      failureCode('TOOMANYREQUESTS')(error) && (error as RegistryError).headers['Retry-After'] === '7');
    env.upstream.failure = null;
    await assert.rejects(env.service.manifest('docker.io/busybox', '3', 'GET'), (error: unknown) =>
      failureCode('MANIFEST_UNKNOWN')(error) && /not found at upstream https:\/\/upstream\.test/.test((error as Error).message));
  });

  it('refuses writes into the mirror with DENIED naming the upstream', () => {
    assert.throws(() => env.service.refuseWrite('docker.io/busybox'), (error: unknown) =>
      failureCode('DENIED')(error) && /pull-through mirror of https:\/\/upstream\.test/.test((error as Error).message));
  });
});

describe('mirror service: blobs', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeEach(async () => {
    env = await setup();
  });

  it('fetches a missing blob once for concurrent requests, stores it and serves it from the store afterwards', async () => {
    const layer = Buffer.alloc(3 << 20, 7);
    const { layerDigest } = env.upstream.addImage('library/big', '1', layer);
    const digest = tryParseDigest(layerDigest)!;
    const blobs = await Promise.all(Array.from({ length: 5 }, () => env.service.blob('docker.io/big', digest)));
    const bodies = await Promise.all(blobs.map(async (blob) => readAll(await blob.open(), blob.size)));
    for (const blob of blobs) blob.release();
    for (const body of bodies) assert.ok(body.equals(layer));
    assert.equal(env.upstream.calls.blob, 1);
    await waitFor(async () => (await env.blobs.size(digest)) === layer.length);
    const again = await env.service.blob('docker.io/big', digest);
    assert.ok((await readAll(await again.open(), again.size)).equals(layer));
    again.release();
    assert.equal(env.upstream.calls.blob, 1);
    // the link is written after the blob is committed, while the fetch still answers for it
    await waitFor(async () => env.repositories.isBlobLinked('docker.io/big', digest));
  });

  it('hands out the first bytes before the upstream finished sending', async () => {
    const layer = Buffer.alloc(1 << 20, 3);
    const { layerDigest } = env.upstream.addImage('library/slow', '1', layer);
    const body = new PassThrough();
    env.upstream.blobBody = () => body;
    body.write(layer.subarray(0, 1000));
    const blob = await env.service.blob('docker.io/slow', tryParseDigest(layerDigest)!);
    const reader = await blob.open();
    const buffer = Buffer.alloc(1000);
    assert.equal(await reader.read(buffer, 0, 1000), 1000);
    assert.ok(buffer.equals(layer.subarray(0, 1000)));
    body.end(layer.subarray(1000));
    assert.ok((await readAll(reader, layer.length)).equals(layer));
    blob.release();
  });

  it('refuses a blob whose content does not match its digest and stores nothing; a later fetch gets it right', async () => {
    const layer = Buffer.from('the real layer bytes');
    const { layerDigest } = env.upstream.addImage('library/bad', '1', layer);
    const digest = tryParseDigest(layerDigest)!;
    env.upstream.corrupt = true;
    const blob = await env.service.blob('docker.io/bad', digest);
    await assert.rejects(readAll(await blob.open(), blob.size));
    blob.release();
    assert.equal(await env.blobs.size(digest), null);
    env.upstream.corrupt = false;
    await waitFor(async () => {
      const retry = await env.service.blob('docker.io/bad', digest);
      try {
        return (await readAll(await retry.open(), retry.size)).equals(layer);
      } catch {
        return false;
      } finally {
        retry.release();
      }
    });
    assert.equal(await env.blobs.size(digest), layer.length);
  });

  it('fails an uncached blob when the upstream is down, naming the upstream', async () => {
    const { layerDigest } = env.upstream.addImage('library/x', '1', Buffer.from('x'));
    env.upstream.failure = new UpstreamError('unreachable', 'upstream upstream.test:443 is unreachable (ECONNREFUSED)');
    await assert.rejects(env.service.blob('docker.io/x', tryParseDigest(layerDigest)!), (error: unknown) =>
      failureCode('UNAVAILABLE')(error) && /upstream https:\/\/upstream\.test failed/.test((error as Error).message));
  });
});

async function waitFor(check: () => Promise<boolean>, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail('condition not reached');
}
