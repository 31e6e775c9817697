// The mirror's upstream client against the test upstream: real CNCF distribution with TLS and token auth behind
// the counting, fault-injecting proxy (test/support/upstream.ts). Also proves the fixture itself with skopeo.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { UpstreamClient, UpstreamError, type UpstreamFailure } from '../../registry/src/mirror/upstream.ts';
import { MANIFEST_MEDIA_TYPES } from '../../registry/src/oci/manifest.ts';
import { DISTRIBUTION_BINARY, startUpstream, type Upstream, type UpstreamImage, type UpstreamIndex } from '../support/upstream.ts';
import { isolatedHome, run } from './tools.ts';

const skip = existsSync(DISTRIBUTION_BINARY) ? false : `needs CNCF distribution at ${DISTRIBUTION_BINARY} (test/tools/install.sh)`;
const accept = [...MANIFEST_MEDIA_TYPES];

/** rejects with an UpstreamError of that failure (and whatever else `check` wants of it) */
function assertFails(promise: Promise<unknown>, failure: UpstreamFailure, check: (error: UpstreamError) => void = () => {}): Promise<void> {
  return assert.rejects(promise, (error) => {
    assert.ok(error instanceof UpstreamError, `expected an UpstreamError, got ${String(error)}`);
    assert.equal(error.failure, failure, error.message);
    check(error);
    return true;
  });
}

function sha256Hex(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

describe('the upstream client against CNCF distribution with token auth', { skip }, () => {
  let upstream: Upstream;
  let image: UpstreamImage;
  let index: UpstreamIndex;
  let client: UpstreamClient;
  const clients: UpstreamClient[] = [];
  const clientFor = (options: Partial<ConstructorParameters<typeof UpstreamClient>[0]> = {}) => {
    const created = new UpstreamClient({ url: upstream.url, caPem: upstream.caPem, credentials: upstream.credentials, ...options });
    clients.push(created);
    return created;
  };

  before(async () => {
    upstream = await startUpstream();
    image = await upstream.pushImage('library/small', '1');
    index = await upstream.pushIndex('library/multi', '1');
    client = clientFor();
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await upstream?.stop();
  });

  it('is a real registry with token auth: anonymous requests are challenged, skopeo pulls with the CA and credentials', async () => {
    const agent = new Agent({ connect: { ca: upstream.caPem } });
    try {
      const response = await request(`${upstream.url}/v2/library/small/manifests/1`, { dispatcher: agent });
      await response.body.dump();
      assert.equal(response.statusCode, 401);
      assert.match(String(response.headers['www-authenticate']), /^Bearer realm="https:\/\/127\.0\.0\.1:\d+\/token",service="[^"]+",scope="repository:library\/small:pull"/);
    } finally {
      await agent.close();
    }
    const env = isolatedHome();
    const target = mkdtempSync(join(tmpdir(), 'regop-upstream-pull-'));
    try {
      const raw = await run('skopeo', ['inspect', '--raw', '--cert-dir', upstream.certDir,
        '--creds', `${upstream.credentials.username}:${upstream.credentials.password}`, `docker://${upstream.host}/library/multi:1`], { env });
      assert.deepEqual(raw.stdoutBytes, index.manifest, 'skopeo reads the index as pushed');
      await run('skopeo', ['copy', '--quiet', '--src-cert-dir', upstream.certDir,
        '--src-creds', `${upstream.credentials.username}:${upstream.credentials.password}`,
        `docker://${upstream.host}/library/small:1`, `oci:${target}:small`], { env });
      const layer = image.layers[0]!;
      assert.equal(sha256Hex(readFileSync(join(target, 'blobs', 'sha256', layer.digest.slice(7)))), layer.digest.slice(7));
      assert.ok(upstream.blobGets(layer.digest) >= 1, 'the proxy saw the layer fetched');
      const wrong = await run('skopeo', ['inspect', '--raw', '--cert-dir', upstream.certDir, '--creds', 'upstream-user:wrong',
        `docker://${upstream.host}/library/small:1`], { env, allowFailure: true });
      assert.notEqual(wrong.code, 0, 'wrong credentials are refused');
    } finally {
      rmSync(target, { recursive: true, force: true });
      rmSync(env.HOME!, { recursive: true, force: true });
    }
  });

  it('gets a token, then the manifest and the blob; the token is reused for its scope', async () => {
    const scope = 'repository:library/small:pull';
    const before = upstream.tokensIssued(scope);
    const head = await client.headManifest('library/small', '1', accept);
    assert.deepEqual(head, { digest: image.digest, mediaType: image.mediaType, size: image.manifest.length });
    const manifest = await client.getManifest('library/small', '1', accept);
    assert.deepEqual(manifest?.content, image.manifest);
    const layer = image.layers[0]!;
    const blob = await client.getBlob('library/small', layer.digest);
    assert.equal(blob?.size, layer.size);
    assert.equal(`sha256:${sha256Hex(Buffer.concat(await blob!.body.toArray()))}`, layer.digest);
    await client.getManifest('library/small', image.digest, accept);
    assert.equal(upstream.tokensIssued(scope) - before, 1, 'one token for four requests of one scope');
    assert.equal(await client.getManifest('library/small', 'no-such-tag', accept), null);
    assert.equal(await client.getBlob('library/small', `sha256:${'0'.repeat(64)}`), null);
  });

  it('follows an index to one platform\'s manifest by digest', async () => {
    const got = await client.getManifest('library/multi', '1', accept);
    assert.equal(got?.digest, index.digest);
    assert.equal(got?.mediaType, index.mediaType);
    const arm = index.images.find((i) => i.platform.architecture === 'arm64')!;
    const platform = await client.getManifest('library/multi', arm.digest, accept);
    assert.deepEqual(platform?.content, arm.manifest);
    assert.notEqual(arm.layers[0]!.digest, index.images[0]!.layers[0]!.digest, 'the platforms have different layers');
  });

  it('reports wrong credentials as unauthorized, without the password', async () => {
    const wrong = clientFor({ credentials: { username: upstream.credentials.username, password: 'not-the-password' } });
    await assertFails(wrong.getManifest('library/small', '1', accept), 'unauthorized',
      (error) => assert.doesNotMatch(error.message, /not-the-password/));
  });

  it('pulls anonymously when the token endpoint grants anonymous pulls, as Docker Hub does for public images', async () => {
    const anonymous = clientFor({ credentials: undefined });
    assert.equal((await anonymous.getManifest('library/small', '1', accept))?.digest, image.digest);
  });

  it('tells a rate-limiting upstream (with Retry-After) and a down one apart, and recovers', async () => {
    const fresh = clientFor();
    try {
      await upstream.setFault('rate-limit');
      await assertFails(fresh.headManifest('library/small', '1', accept), 'rate-limited', (error) => assert.equal(error.retryAfterS, 60));
      await assertFails(client.getBlob('library/small', image.layers[0]!.digest), 'rate-limited');
      await upstream.setFault('down');
      await assertFails(client.getManifest('library/small', '1', accept), 'unreachable');
    } finally {
      await upstream.setFault('none');
    }
    assert.equal((await client.getManifest('library/small', '1', accept))?.digest, image.digest);
  });

  it('refuses a manifest by digest whose body does not match it', async () => {
    try {
      await upstream.setFault('corrupt-manifests');
      await assertFails(client.getManifest('library/small', image.digest, accept), 'invalid',
        (error) => assert.match(error.message, new RegExp(image.digest)));
    } finally {
      await upstream.setFault('none');
    }
  });

  it('corrupt-blobs hands out a blob that does not match its digest (the mirror must refuse it)', async () => {
    const layer = image.layers[0]!;
    try {
      await upstream.setFault('corrupt-blobs');
      const blob = await client.getBlob('library/small', layer.digest);
      const content = Buffer.concat(await blob!.body.toArray());
      assert.equal(content.length, layer.size);
      assert.notEqual(`sha256:${sha256Hex(content)}`, layer.digest);
    } finally {
      await upstream.setFault('none');
    }
  });

  it('streams a 100 MiB layer, trickling while slow-blobs lasts: the first bytes arrive before the upstream finished', async () => {
    const large = await upstream.pushLargeImage('library/large', '1');
    const layer = large.layers[0]!;
    assert.ok(layer.size > 100 * 1024 * 1024);
    await upstream.setFault('slow-blobs');
    let blob;
    try {
      blob = await client.getBlob('library/large', layer.digest);
      assert.equal(blob?.size, layer.size);
      const reader = blob!.body[Symbol.asyncIterator]();
      const first = await reader.next();
      assert.ok(!first.done && (first.value as Buffer).length > 0);
      const fetch = upstream.requests.findLast((r) => r.method === 'GET' && r.path.endsWith(layer.digest));
      assert.equal(fetch?.done, false, 'the upstream is still sending');
      await upstream.setFault('none');
      const hash = createHash('sha256').update(first.value as Buffer);
      let size = (first.value as Buffer).length;
      for (let next = await reader.next(); !next.done; next = await reader.next()) {
        hash.update(next.value as Buffer);
        size += (next.value as Buffer).length;
      }
      assert.equal(size, layer.size);
      assert.equal(`sha256:${hash.digest('hex')}`, layer.digest);
    } finally {
      await upstream.setFault('none');
      blob?.body.destroy();
    }
  });
});
