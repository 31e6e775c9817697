// Two real registry processes on one storage, as replicas behind a Service are: first on one directory
// (storage.shared, a ReadWriteMany volume), then on one S3 bucket. A client's requests alternate between them as a
// load balancer spreads them; whatever one process accepted, the other serves at once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { clientFor, type Client } from '../support/http.ts';
import { blob, OCI_MANIFEST, pushImage, randomBlob, sha256, type Blob } from '../support/oci.ts';
import { startRegistry, type RunningRegistry, type StartOptions } from '../support/registry.ts';
import { startS3Server } from '../support/s3-server.ts';
import { withRegistryLogs } from './tools.ts';

const MiB = 1024 * 1024;

interface Pair {
  a: RunningRegistry;
  b: RunningRegistry;
  /** stops what the storage runs on, once both processes stopped */
  stopStorage?: () => Promise<void>;
  /** a client of each, the one the first request of a scenario goes to first */
  clients: [Client, Client];
}

/** the log tails of both processes, for a failing test */
const bothLogs = (pair: Pair) => ({ logs: () => `--- A\n${pair.a.logs().slice(-6000)}\n--- B\n${pair.b.logs().slice(-6000)}` });

/**
 * A chunked upload whose requests alternate between the processes: chunk i goes to clients[i % 2], the closing PUT
 * to the next one. `contentRange`: the chunks say where they start (the spec's chunked upload); without it they are
 * streamed with no length (what docker and containerd send), so the registry appends wherever the data ends.
 */
async function uploadAlternating(clients: [Client, Client], name: string, chunks: Buffer[], contentRange: boolean): Promise<string> {
  const content = Buffer.concat(chunks);
  const digest = sha256(content);
  const started = await clients[0].send('POST', `/v2/${name}/blobs/uploads/`);
  assert.equal(started.status, 202, started.body.toString());
  let location = started.headers.location!;
  let offset = 0;
  for (const [index, chunk] of chunks.entries()) {
    const client = clients[index % 2]!;
    const response = contentRange
      ? await client.send('PATCH', location, {
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
        body: chunk,
      })
      : await client.send('PATCH', location, { headers: { 'content-type': 'application/octet-stream' }, body: Readable.from([chunk]) });
    assert.equal(response.status, 202, `chunk ${index} at offset ${offset}: ${response.status} ${response.body.toString()}`);
    offset += chunk.length;
    assert.equal(response.headers.range, `0-${offset - 1}`);
    location = response.headers.location!;
    // the other process reports the same progress
    const progress = await clients[(index + 1) % 2]!.send('GET', location);
    assert.equal(progress.status, 204);
    assert.equal(progress.headers.range, `0-${offset - 1}`);
  }
  const closed = await clients[chunks.length % 2]!.send('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`);
  assert.equal(closed.status, 201, closed.body.toString());
  assert.equal(closed.headers['docker-content-digest'], digest);
  return digest;
}

async function assertBlob(client: Client, name: string, digest: string, size?: number): Promise<void> {
  const response = await client.send('GET', `/v2/${name}/blobs/${digest}`);
  assert.equal(response.status, 200, `${digest}: ${response.status} ${response.body.toString().slice(0, 300)}`);
  assert.equal(sha256(response.body), digest);
  if (size !== undefined) assert.equal(response.body.length, size);
}

/** Pulls `reference` as a client would: the manifest (digest verified), then its config and layers (digests verified). */
async function assertPullable(client: Client, name: string, reference: string, manifest: Blob): Promise<void> {
  const response = await client.send('GET', `/v2/${name}/manifests/${reference}`, { headers: { accept: OCI_MANIFEST } });
  assert.equal(response.status, 200, `${name}:${reference}: ${response.status} ${response.body.toString()}`);
  assert.equal(response.headers['docker-content-digest'], manifest.digest);
  assert.equal(sha256(response.body), manifest.digest);
  const parsed = JSON.parse(response.body.toString()) as { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> };
  for (const descriptor of [parsed.config, ...parsed.layers]) await assertBlob(client, name, descriptor.digest, descriptor.size);
}

async function tagDigest(client: Client, name: string, tag: string): Promise<string | number> {
  const response = await client.send('GET', `/v2/${name}/manifests/${tag}`, { headers: { accept: OCI_MANIFEST } });
  return response.status === 200 ? response.headers['docker-content-digest']! : response.status;
}

async function tags(client: Client, name: string): Promise<string[]> {
  const response = await client.send('GET', `/v2/${name}/tags/list`);
  assert.equal(response.status, 200, response.body.toString());
  return (response.json() as { tags: string[] }).tags;
}

/** The scenarios every kind of shared storage must pass; `start` starts two processes on one storage. */
function replicaScenarios(start: () => Promise<Omit<Pair, 'clients'>>) {
  let pair: Pair;
  before(async () => {
    const started = await start();
    pair = { ...started, clients: [clientFor(started.a), clientFor(started.b)] };
  });
  after(async () => {
    await Promise.all(pair?.clients.map((client) => client.close()) ?? []);
    // B first: A's work dir may hold the shared directory
    await pair?.b.stop();
    await pair?.a.stop();
    await pair?.stopStorage?.();
  });
  const [a, b] = [0, 1] as const;
  const flipped = (): [Client, Client] => [pair.clients[b], pair.clients[a]];

  it('a chunked upload with Content-Range whose PATCHes alternate between the processes completes with the right digest', () => withRegistryLogs(bothLogs(pair), async () => {
    // 6 MiB chunks: the offset of the report (6291456), and more than an S3 part
    const chunks = [randomBytes(6 * MiB), randomBytes(6 * MiB), randomBytes(2 * MiB), randomBytes(1000)];
    const digest = await uploadAlternating(pair.clients, 'replicas/chunked', chunks, true);
    const size = chunks.reduce((total, chunk) => total + chunk.length, 0);
    await assertBlob(pair.clients[a], 'replicas/chunked', digest, size);
    await assertBlob(pair.clients[b], 'replicas/chunked', digest, size);
  }));

  it('a chunked upload as docker sends it (no Content-Range, no length) alternating between the processes completes', () => withRegistryLogs(bothLogs(pair), async () => {
    const chunks = [randomBytes(6 * MiB + 123), randomBytes(3 * MiB), randomBytes(4096)];
    const digest = await uploadAlternating(flipped(), 'replicas/streamed', chunks, false);
    await assertBlob(pair.clients[a], 'replicas/streamed', digest);
    await assertBlob(pair.clients[b], 'replicas/streamed', digest);
  }));

  it('a chunk at an offset the other process already moved past is refused with the stored offset', () => withRegistryLogs(bothLogs(pair), async () => {
    const started = await pair.clients[a].send('POST', '/v2/replicas/offsets/blobs/uploads/');
    const location = started.headers.location!;
    const first = await pair.clients[a].send('PATCH', location, { headers: { 'content-range': '0-99' }, body: randomBytes(100) });
    assert.equal(first.status, 202);
    const second = await pair.clients[b].send('PATCH', location, { headers: { 'content-range': '100-149' }, body: randomBytes(50) });
    assert.equal(second.status, 202);
    const stale = await pair.clients[a].send('PATCH', location, { headers: { 'content-range': '100-109' }, body: randomBytes(10) });
    assert.equal(stale.status, 416, stale.body.toString());
    assert.equal(stale.headers.range, '0-149');
    assert.equal((await pair.clients[b].send('DELETE', location)).status, 204);
    assert.equal((await pair.clients[a].send('GET', location)).status, 404, 'the session cancelled on B is gone on A');
  }));

  it('an image pushed monolithically to one process is pullable from the other at once, digests verified', () => withRegistryLogs(bothLogs(pair), async () => {
    const manifest = await pushImage(pair.clients[a], 'replicas/mono', 'v1', [randomBlob(64 * 1024), randomBlob(2 * MiB)]);
    await assertPullable(pair.clients[b], 'replicas/mono', 'v1', manifest);
    await assertPullable(pair.clients[b], 'replicas/mono', manifest.digest, manifest);
    const other = await pushImage(pair.clients[b], 'replicas/mono', 'v2');
    await assertPullable(pair.clients[a], 'replicas/mono', 'v2', other);
  }));

  it('tags written through both processes are listed by both', () => withRegistryLogs(bothLogs(pair), async () => {
    const written = ['a1', 'b1', 'a2', 'b2'];
    for (const [index, tag] of written.entries()) await pushImage(pair.clients[index % 2 === 0 ? a : b], 'replicas/tags', tag);
    assert.deepEqual(await tags(pair.clients[a], 'replicas/tags'), [...written].sort());
    assert.deepEqual(await tags(pair.clients[b], 'replicas/tags'), [...written].sort());
    const catalog = (await pair.clients[b].send('GET', '/v2/_catalog')).json() as { repositories: string[] };
    assert.ok(catalog.repositories.includes('replicas/tags'), JSON.stringify(catalog));
  }));

  it('a tag moved on one process is served moved by the other at once', () => withRegistryLogs(bothLogs(pair), async () => {
    const first = await pushImage(pair.clients[a], 'replicas/moving', 'latest');
    // B reads (and may cache) the tag before it moves
    assert.equal(await tagDigest(pair.clients[b], 'replicas/moving', 'latest'), first.digest);
    const second = await pushImage(pair.clients[a], 'replicas/moving', 'latest');
    assert.equal(await tagDigest(pair.clients[b], 'replicas/moving', 'latest'), second.digest);
    const head = await pair.clients[b].send('HEAD', '/v2/replicas/moving/manifests/latest', { headers: { accept: OCI_MANIFEST } });
    assert.equal(head.headers['docker-content-digest'], second.digest);
    // and back, through the other process
    await pair.clients[b].send('PUT', '/v2/replicas/moving/manifests/latest', { headers: { 'content-type': OCI_MANIFEST }, body: first.content });
    assert.equal(await tagDigest(pair.clients[a], 'replicas/moving', 'latest'), first.digest);
  }));

  it('a manifest deleted on one process is gone on the other, by digest, by tag and from the tag list', () => withRegistryLogs(bothLogs(pair), async () => {
    const kept = await pushImage(pair.clients[a], 'replicas/deleted', 'kept');
    const doomed = await pushImage(pair.clients[a], 'replicas/deleted', 'doomed');
    // B serves both first, so anything it cached would show
    await assertPullable(pair.clients[b], 'replicas/deleted', 'doomed', doomed);
    await assertPullable(pair.clients[b], 'replicas/deleted', doomed.digest, doomed);
    assert.deepEqual(await tags(pair.clients[b], 'replicas/deleted'), ['doomed', 'kept']);
    const deleted = await pair.clients[a].send('DELETE', `/v2/replicas/deleted/manifests/${doomed.digest}`);
    assert.equal(deleted.status, 202, deleted.body.toString());
    assert.equal(await tagDigest(pair.clients[b], 'replicas/deleted', doomed.digest), 404);
    assert.equal(await tagDigest(pair.clients[b], 'replicas/deleted', 'doomed'), 404);
    assert.deepEqual(await tags(pair.clients[b], 'replicas/deleted'), ['kept']);
    await assertPullable(pair.clients[b], 'replicas/deleted', 'kept', kept);
  }));

  it('a manifest whose blobs were pushed through the other process is accepted', () => withRegistryLogs(bothLogs(pair), async () => {
    const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, salt: randomBytes(4).toString('hex') }));
    const layer = randomBlob(4096);
    for (const content of [config, layer]) {
      const pushed = await pair.clients[b].send('POST', `/v2/replicas/split/blobs/uploads/?digest=${content.digest}`, { body: content.content });
      assert.equal(pushed.status, 201, pushed.body.toString());
    }
    const manifest = blob(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size }],
    }));
    const put = await pair.clients[a].send('PUT', '/v2/replicas/split/manifests/v1', { headers: { 'content-type': OCI_MANIFEST }, body: manifest.content });
    assert.equal(put.status, 201, put.body.toString());
    await assertPullable(pair.clients[b], 'replicas/split', 'v1', manifest);
  }));
}

describe('two registry processes on one shared directory', () => {
  replicaScenarios(async () => {
    const shared: StartOptions = { storage: { shared: true } };
    const a = await startRegistry(shared);
    const b = await startRegistry({ ...shared, storageDir: a.storageDir });
    return { a, b };
  });
});

describe('two registry processes on one S3 bucket', () => {
  replicaScenarios(async () => {
    const s3 = await startS3Server();
    await s3.createBucket('replicas');
    const storage = { s3: { server: s3, bucket: 'replicas', prefix: 'registry' } };
    return { a: await startRegistry({ storage }), b: await startRegistry({ storage }), stopStorage: () => s3.stop() };
  });
});
