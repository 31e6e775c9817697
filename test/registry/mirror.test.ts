// The pull-through mirror against a real upstream (CNCF distribution with TLS and token auth behind a counting,
// fault-injecting proxy: test/support/upstream.ts), pulled through with the real clients: podman, skopeo, crane.
// Each test pulls images of its own, so what it counts upstream is its own doing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { stringify as toYaml } from 'yaml';
import { basicAuth, clientFor, type Client } from '../support/http.ts';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { startUpstream, type Upstream, type UpstreamImage } from '../support/upstream.ts';
import { isolatedHome, run, withRegistryLogs } from './tools.ts';
import { ContainerTools } from '../support/containers.ts';

const user = { name: 'puller', password: 'mirror-test-pw-1' };
const MIRROR = 'docker.io';
let upstream: Upstream;
let registry: RunningRegistry;
let client: Client;
let work: string;
let certDir: string;
let env: Record<string, string>;
let tools: ContainerTools;

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

function writeMirrorConfig(extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'regop-mirror-config-'));
  writeFileSync(join(dir, 'upstream-ca.pem'), upstream.caPem);
  writeFileSync(join(dir, 'credentials.yaml'), toYaml(upstream.credentials), { mode: 0o600 });
  const config = {
    mirrors: [{
      name: MIRROR, upstream: upstream.url, caFile: join(dir, 'upstream-ca.pem'),
      credentialsFile: join(dir, 'credentials.yaml'), tagTTL: '0s', timeout: '5s', ...extra,
    }],
  };
  writeFileSync(join(dir, 'config.yaml'), toYaml(config));
  return join(dir, 'config.yaml');
}

const creds = () => `${user.name}:${user.password}`;

/** skopeo copies an image of the mirror into a directory (a full pull: manifest, config, layers) */
async function skopeoPull(reference: string, options: { allowFailure?: boolean; arch?: string } = {}) {
  const target = mkdtempSync(join(work, 'pull-'));
  return run('skopeo', [...(options.arch ? ['--override-arch', options.arch] : []), 'copy', '--src-cert-dir', certDir,
    '--src-creds', creds(), `docker://${registry.host}/${reference}`, `dir:${target}`], { env, ...(options.allowFailure ? { allowFailure: true } : {}) });
}

/** A blob GET that reports when its first byte arrived and hands back the whole body. */
async function getBlob(repository: string, digest: string): Promise<{ status: number; body: Buffer; onFirstByte: Promise<void> }> {
  const agent = new Agent({ connect: { ca: registry.caPem! } });
  const response = await request(`${registry.url}/v2/${repository}/blobs/${digest}`, {
    headers: { authorization: basicAuth(user.name, user.password) }, dispatcher: agent,
  });
  let firstByte!: () => void;
  const onFirstByte = new Promise<void>((resolve) => (firstByte = resolve));
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of response.body) {
      if (chunks.length === 0) firstByte();
      chunks.push(chunk as Buffer);
    }
  } catch {
    // a cut body: what was received is returned, and the digest check fails
  } finally {
    await agent.close();
  }
  return { status: response.statusCode, body: Buffer.concat(chunks), onFirstByte };
}

function layerOf(image: UpstreamImage): string {
  return image.layers[0]!.digest;
}

before(async () => {
  upstream = await startUpstream();
  work = mkdtempSync(join(tmpdir(), 'regop-mirror-'));
  env = isolatedHome();
  tools = new ContainerTools(join(work, 'containers'), env);
  registry = await startRegistry({
    tls: true, users: [user, { name: 'pusher', password: 'pusher-pw-1' }],
    extraArgs: ['--config', writeMirrorConfig()],
  });
  certDir = join(work, 'certs');
  mkdirSync(certDir);
  writeFileSync(join(certDir, 'ca.crt'), registry.caPem!);
  client = clientFor(registry, user);
});

after(async () => {
  await client?.close();
  await registry?.stop();
  await upstream?.stop();
});

describe('pull-through mirror', () => {
  it('podman pulls an image through the mirror with the upstream\'s digest; a second pull fetches no blob again', () => withRegistryLogs(registry, async () => {
    const image = await upstream.pushImage('library/podman', '1');
    await tools.podman(['pull', '--cert-dir', certDir, '--creds', creds(), `${registry.host}/${MIRROR}/podman:1`]);
    const digest = (await tools.podman(['image', 'inspect', '--format', '{{.Digest}}', `${registry.host}/${MIRROR}/podman:1`])).stdout.trim();
    assert.equal(digest, image.digest);
    assert.equal(upstream.blobGets(layerOf(image)), 1);
    const blobsBefore = upstream.blobGets();
    await tools.podman(['rmi', `${registry.host}/${MIRROR}/podman:1`]);
    await tools.podman(['pull', '--cert-dir', certDir, '--creds', creds(), `${registry.host}/${MIRROR}/podman:1`]);
    assert.equal(upstream.blobGets() - blobsBefore, 0, 'the second pull fetched blobs from the upstream');
  }));

  it('skopeo and crane pull through the mirror; the mirrored repository is in the catalog', () => withRegistryLogs(registry, async () => {
    const image = await upstream.pushImage('library/skopeo', '1');
    await skopeoPull(`${MIRROR}/library/skopeo:1`);
    const before = upstream.blobGets();
    await skopeoPull(`${MIRROR}/library/skopeo:1`);
    assert.equal(upstream.blobGets() - before, 0);
    const crane = await upstream.pushImage('library/crane', '1');
    await run('crane', ['auth', 'login', registry.host, '-u', user.name, '--password-stdin'], { env, input: user.password });
    const craneEnv = { ...env, SSL_CERT_FILE: join(certDir, 'ca.crt') };
    await run('crane', ['pull', `${registry.host}/${MIRROR}/crane:1`, join(work, 'crane.tar')], { env: craneEnv });
    assert.equal((await run('crane', ['digest', `${registry.host}/${MIRROR}/crane:1`], { env: craneEnv })).stdout.trim(), crane.digest);
    const catalog = (await client.send('GET', '/v2/_catalog')).json().repositories as string[];
    assert.ok(catalog.includes(`${MIRROR}/library/skopeo`) && catalog.includes(`${MIRROR}/crane`), catalog.join(' '));
    assert.equal(upstream.blobGets(layerOf(image)), 1);
  }));

  it('5 concurrent pulls of an uncached 100 MiB blob make one upstream request and all get the right bytes', () => withRegistryLogs(registry, async () => {
    const image = await upstream.pushLargeImage('library/large', '1');
    const layer = layerOf(image);
    const pulls = await Promise.all(Array.from({ length: 5 }, () => getBlob(`${MIRROR}/large`, layer)));
    for (const pull of pulls) {
      assert.equal(pull.status, 200);
      assert.equal(sha256(pull.body), layer);
    }
    assert.equal(upstream.blobGets(layer), 1);
    console.log(`# upstream blob requests for 5 concurrent pulls of the uncached 100 MiB blob: ${upstream.blobGets(layer)}`);
  }));

  it('sends the first byte of an uncached blob before the upstream finished sending it', () => withRegistryLogs(registry, async () => {
    const image = await upstream.pushLargeImage('library/slow', '1', 8 * 1024 * 1024);
    const layer = layerOf(image);
    await upstream.setFault('slow-blobs');
    try {
      const started = await startBlobGet(`${MIRROR}/slow`, layer);
      const upstreamGet = upstream.requests.find((r) => r.method === 'GET' && r.path.endsWith(layer));
      assert.ok(upstreamGet, 'the upstream was asked for the blob');
      assert.equal(upstreamGet.done, false, 'the first byte reached the client only after the upstream finished');
      await upstream.setFault('none');
      assert.equal(sha256(await started.rest), layer);
      assert.equal(upstream.blobGets(layer), 1);
    } finally {
      await upstream.setFault('none');
    }
  }));

  it('serves cached images when the upstream answers 429 or is down, and fails uncached ones naming the upstream', () => withRegistryLogs(registry, async () => {
    await upstream.pushImage('library/cached', '1');
    await upstream.pushImage('library/uncached', '1');
    await skopeoPull(`${MIRROR}/cached:1`);
    for (const fault of ['rate-limit', 'down'] as const) {
      await upstream.setFault(fault);
      try {
        await skopeoPull(`${MIRROR}/cached:1`);
        // asked directly: skopeo shows only the status, and waits out a 429's Retry-After before it gives up
        const failed = await client.send('GET', `/v2/${MIRROR}/uncached/manifests/1`);
        assert.equal(failed.status, fault === 'rate-limit' ? 429 : 503);
        const [error] = failed.json().errors;
        assert.equal(error.code, fault === 'rate-limit' ? 'TOOMANYREQUESTS' : 'UNAVAILABLE');
        assert.ok(error.message.includes(`not cached and upstream ${upstream.url} failed`), error.message);
      } finally {
        await upstream.setFault('none');
      }
    }
    const metrics = (await client.send('GET', '/metrics')).body.toString();
    assert.match(metrics, /regop_registry_mirror_stale_served_total\{mirror="docker.io"\} [1-9]/);
  }));

  it('refuses a corrupted upstream blob and stores nothing; once the fault is gone the right bytes come', () => withRegistryLogs(registry, async () => {
    const image = await upstream.pushLargeImage('library/corrupt', '1', 1024 * 1024);
    const layer = layerOf(image);
    await upstream.setFault('corrupt-blobs');
    try {
      const bad = await getBlob(`${MIRROR}/corrupt`, layer);
      assert.notEqual(sha256(bad.body), layer);
    } finally {
      await upstream.setFault('none');
    }
    const good = await getBlob(`${MIRROR}/corrupt`, layer);
    assert.equal(good.status, 200);
    assert.equal(sha256(good.body), layer);
    assert.equal(upstream.blobGets(layer), 2, 'the corrupt copy was stored and served again');
  }));

  it('refuses a push into the mirror prefix with DENIED', () => withRegistryLogs(registry, async () => {
    const response = await client.send('POST', `/v2/${MIRROR}/library/pushed/blobs/uploads/`);
    assert.equal(response.status, 403);
    assert.equal(response.json().errors[0].code, 'DENIED');
    assert.match(response.json().errors[0].message, /pull-through mirror/);
    const manifest = await client.send('PUT', `/v2/${MIRROR}/library/pushed/manifests/1`, {
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: '{}',
    });
    assert.equal(manifest.status, 403);
  }));

  it('fetches only the pulled platform of a multi-platform index', () => withRegistryLogs(registry, async () => {
    const index = await upstream.pushIndex('library/multi', '1');
    await skopeoPull(`${MIRROR}/multi:1`, { arch: 'arm64' });
    const [amd64, arm64] = ['amd64', 'arm64'].map((arch) => index.images.find((image) => image.platform.architecture === arch)!);
    assert.equal(upstream.blobGets(layerOf(arm64!)), 1);
    assert.equal(upstream.blobGets(layerOf(amd64!)), 0, 'the other platform\'s layer was fetched');
  }));

  it('routes /v2/<name>/... ?ns=<host> to the mirror of that host', () => withRegistryLogs(registry, async () => {
    const image = await upstream.pushImage('library/routed', '1');
    const response = await client.send('GET', `/v2/library/routed/manifests/1?ns=${MIRROR}`, {
      headers: { accept: image.mediaType },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers['docker-content-digest'], image.digest);
    const tags = (await client.send('GET', `/v2/${MIRROR}/library/routed/tags/list`)).json();
    assert.deepEqual(tags.tags, ['1']);
  }));
});

describe('pull-through mirror with maxSize', () => {
  it('evicts the least recently pulled image and keeps the most recently pulled one', async () => {
    const first = await upstream.pushLargeImage('library/evict-a', '1', 3 * 1024 * 1024);
    await upstream.pushLargeImage('library/evict-b', '1', 3 * 1024 * 1024);
    const small = await startRegistry({ tls: true, users: [user], extraArgs: ['--config', writeMirrorConfig({ maxSize: '5Mi', tagTTL: '1h' })] });
    const previous = registry;
    registry = small;
    const smallClient = clientFor(small, user);
    try {
      await withRegistryLogs(small, async () => {
        writeFileSync(join(certDir, 'ca.crt'), small.caPem!);
        await skopeoPull(`${MIRROR}/evict-a:1`);
        await skopeoPull(`${MIRROR}/evict-b:1`);
        const tagsOf = async (name: string) => (await smallClient.send('GET', `/v2/${MIRROR}/${name}/tags/list`)).json().tags as string[] | undefined;
        const deadline = Date.now() + 90_000;
        while ((await tagsOf('evict-a'))?.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 500));
        assert.deepEqual(await tagsOf('evict-a'), [], 'the least recently pulled image was not evicted');
        assert.deepEqual(await tagsOf('evict-b'), ['1']);
        const before = upstream.blobGets();
        await skopeoPull(`${MIRROR}/evict-b:1`);
        assert.equal(upstream.blobGets() - before, 0, 'the kept image was fetched again');
        await skopeoPull(`${MIRROR}/evict-a:1`);
        assert.equal(upstream.blobGets(layerOf(first)), 2, 'the evicted image came back from the upstream');
        const metrics = (await smallClient.send('GET', '/metrics')).body.toString();
        assert.match(metrics, /regop_registry_mirror_evictions_total\{mirror="docker.io"\} [1-9]/);
      });
    } finally {
      await smallClient.close();
      registry = previous;
      writeFileSync(join(certDir, 'ca.crt'), previous.caPem!);
      await small.stop();
    }
  });
});

/** Starts a blob GET and resolves at its first byte, with the rest of the body to come. */
async function startBlobGet(repository: string, digest: string): Promise<{ rest: Promise<Buffer> }> {
  const agent = new Agent({ connect: { ca: registry.caPem! } });
  const response = await request(`${registry.url}/v2/${repository}/blobs/${digest}`, {
    headers: { authorization: basicAuth(user.name, user.password) }, dispatcher: agent,
  });
  const iterator = response.body[Symbol.asyncIterator]();
  const first = await iterator.next();
  const chunks: Buffer[] = first.done ? [] : [first.value as Buffer];
  const rest = (async () => {
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) chunks.push(next.value as Buffer);
    await agent.close();
    return Buffer.concat(chunks);
  })();
  return { rest };
}
