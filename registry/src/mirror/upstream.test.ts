// The upstream client against a tiny HTTP server in the test: each auth flow, the failures the mirror tells
// apart, and the checks on what an upstream sends. (test/registry/upstream.test.ts runs it against real
// CNCF distribution with token auth.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseChallenges, parseTokenResponse, TokenCache } from './upstream-auth.ts';
import { UpstreamClient, UpstreamError, MAX_UPSTREAM_MANIFEST_BYTES, type UpstreamFailure } from './upstream.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }));
const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const layer = Buffer.from('layer bytes');
const layerDigest = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
const credentials = { username: 'mirror-user', password: 'pa55-secret-word' };
const basicHeader = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

async function serve(handler: Handler): Promise<{ server: Server; url: string; requests: Array<{ path: string; authorization?: string }> }> {
  const requests: Array<{ path: string; authorization?: string }> = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push({ path: url.pathname + url.search, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    handler(req, res, url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${address.port}`, requests };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** a registry with one manifest and one blob, answering only requests that carry `authorized` */
function registryContent(res: ServerResponse, url: URL) {
  if (url.pathname === `/v2/library/busybox/manifests/1` || url.pathname === `/v2/library/busybox/manifests/${manifestDigest}`) {
    res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': manifestDigest, 'content-length': manifest.length });
    res.end(manifest);
  } else if (url.pathname === `/v2/library/busybox/blobs/${layerDigest}`) {
    res.writeHead(200, { 'content-length': layer.length });
    res.end(layer);
  } else {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
  }
}

async function failureOf(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof UpstreamError, `expected an UpstreamError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

function logCapture() {
  let text = '';
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk, _encoding, done) { text += chunk; done(); } }));
  return { logger, text: () => text };
}

describe('WWW-Authenticate and token responses', () => {
  it('reads Docker Hub\'s bearer challenge', () => {
    const [challenge] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
    assert.deepEqual(challenge, {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    });
  });

  it('reads several challenges, unquoted values and escaped quotes', () => {
    const challenges = parseChallenges(['Basic realm="a \\"quoted\\" realm", Bearer realm=https://t/x, error=insufficient_scope']);
    assert.deepEqual(challenges, [
      { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
      { scheme: 'bearer', params: { realm: 'https://t/x', error: 'insufficient_scope' } },
    ]);
    assert.deepEqual(parseChallenges(undefined), []);
  });

  it('takes token or access_token, and 60 s when expires_in is missing or shorter', () => {
    assert.deepEqual(parseTokenResponse('{"token":"t1","expires_in":300}'), { token: 't1', expiresInS: 300 });
    assert.deepEqual(parseTokenResponse('{"access_token":"t2"}'), { token: 't2', expiresInS: 60 });
    assert.deepEqual(parseTokenResponse('{"token":"t3","expires_in":5}'), { token: 't3', expiresInS: 60 });
    assert.equal(parseTokenResponse('{"token":""}'), null);
    assert.equal(parseTokenResponse('not json'), null);
  });
});

describe('token cache', () => {
  it('issues one token per scope for concurrent callers, and a new one shortly before expiry', async () => {
    let now = 1_000_000;
    const cache = new TokenCache(() => now);
    let issued = 0;
    const issue = async () => ({ token: `t${++issued}`, expiresInS: 60 });
    const tokens = await Promise.all([cache.get('a', issue), cache.get('a', issue), cache.get('a', issue)]);
    assert.deepEqual(tokens, ['t1', 't1', 't1']);
    assert.equal(await cache.get('b', issue), 't2');
    now += 40_000;
    assert.equal(await cache.get('a', issue), 't1', 'still 20 s left: reused');
    now += 6_000;
    assert.equal(await cache.get('a', issue), 't3', 'within the last 15 s: renewed');
    cache.forget('a', 't3');
    assert.equal(await cache.get('a', issue), 't4');
  });

  it('does not cache a failed issuance', async () => {
    const cache = new TokenCache();
    await assert.rejects(cache.get('a', async () => { throw new Error('down'); }));
    assert.equal(await cache.get('a', async () => ({ token: 'ok', expiresInS: 60 })), 'ok');
  });
});

describe('upstream client', () => {
  it('pulls anonymously: manifest by tag and digest, HEAD, blob, and null for what is missing', async () => {
    const upstream = await serve((_req, res, url) => registryContent(res, url));
    const client = new UpstreamClient({ url: upstream.url });
    try {
      const head = await client.headManifest('library/busybox', '1', [OCI_MANIFEST]);
      assert.deepEqual(head, { digest: manifestDigest, mediaType: OCI_MANIFEST, size: manifest.length });
      const got = await client.getManifest('library/busybox', manifestDigest, [OCI_MANIFEST]);
      assert.equal(got?.digest, manifestDigest);
      assert.deepEqual(got?.content, manifest);
      const blob = await client.getBlob('library/busybox', layerDigest);
      assert.equal(blob?.size, layer.length);
      assert.deepEqual(Buffer.concat(await blob!.body.toArray()), layer);
      assert.equal(await client.getManifest('library/busybox', '2', [OCI_MANIFEST]), null);
      assert.equal(await client.headManifest('library/busybox', '2', [OCI_MANIFEST]), null);
      assert.equal(await client.getBlob('library/busybox', manifestDigest), null);
      assert.ok(upstream.requests.every((r) => r.authorization === undefined));
    } finally {
      await client.close();
      await close(upstream.server);
    }
  });

  it('answers a Basic challenge with the credentials, and fails clearly without them', async () => {
    const upstream = await serve((req, res, url) => {
      if (req.headers.authorization !== basicHeader) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="upstream"' });
        res.end();
      } else registryContent(res, url);
    });
    const { logger, text } = logCapture();
    const client = new UpstreamClient({ url: upstream.url, credentials }, logger);
    const anonymous = new UpstreamClient({ url: upstream.url });
    const wrong = new UpstreamClient({ url: upstream.url, credentials: { ...credentials, password: 'wrong-password' } });
    try {
      assert.equal((await client.getManifest('library/busybox', '1', [OCI_MANIFEST]))?.digest, manifestDigest);
      assert.ok(await client.getBlob('library/busybox', layerDigest), 'the scheme is remembered');
      assert.equal(upstream.requests.filter((r) => !r.authorization).length, 1, 'one 401 round, then Basic up front');
      assert.equal((await failureOf(anonymous.getManifest('library/busybox', '1', []))).failure, 'unauthorized');
      const refused = await failureOf(wrong.getManifest('library/busybox', '1', []));
      assert.equal(refused.failure, 'unauthorized');
      assert.doesNotMatch(refused.message, /wrong-password/);
      assert.doesNotMatch(text(), new RegExp(`${credentials.password}|${basicHeader.slice(6)}`));
    } finally {
      await Promise.all([client.close(), anonymous.close(), wrong.close()]);
      await close(upstream.server);
    }
  });

  it('follows the distribution token flow, with one token per scope, and never logs credentials or tokens', async () => {
    const issued: Array<{ scope: string | null; service: string | null; authorization?: string }> = [];
    const upstream = await serve((req, res, url) => {
      if (url.pathname === '/token') {
        if (req.headers.authorization !== basicHeader) {
          res.writeHead(401);
          res.end();
          return;
        }
        issued.push({ scope: url.searchParams.get('scope'), service: url.searchParams.get('service') });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ token: `secret-token-${issued.length}`, expires_in: 300 }));
        return;
      }
      const repository = url.pathname.split('/').slice(2, 4).join('/');
      if (!/^Bearer secret-token-\d+$/.test(req.headers.authorization ?? '')) {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="test-registry",scope="repository:${repository}:pull"`,
        });
        res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      registryContent(res, url);
    });
    const { logger, text } = logCapture();
    let tokenRequests = 0;
    const client = new UpstreamClient({ url: upstream.url, credentials, onResponse: (kind) => { if (kind === 'token') tokenRequests++; } }, logger);
    const wrong = new UpstreamClient({ url: upstream.url, credentials: { ...credentials, password: 'wrong-password' } });
    try {
      await Promise.all([
        client.getManifest('library/busybox', '1', [OCI_MANIFEST]),
        client.getManifest('library/busybox', '1', [OCI_MANIFEST]),
      ]);
      assert.ok(await client.getBlob('library/busybox', layerDigest));
      assert.ok(await client.headManifest('library/busybox', '1', [OCI_MANIFEST]));
      assert.deepEqual(issued, [{ scope: 'repository:library/busybox:pull', service: 'test-registry' }], 'one token for the scope');
      assert.equal(await client.getManifest('library/alpine', '1', [OCI_MANIFEST]), null);
      assert.equal(issued.length, 2, 'another scope, another token');
      assert.equal(issued[1]!.scope, 'repository:library/alpine:pull');
      assert.equal(tokenRequests, 2);

      const refused = await failureOf(wrong.getManifest('library/busybox', '1', []));
      assert.equal(refused.failure, 'unauthorized');
      assert.match(refused.message, /refused the credentials/);
      assert.doesNotMatch(text(), /secret-token|pa55-secret-word|wrong-password/);
      assert.doesNotMatch(text(), new RegExp(basicHeader.slice(6)));
    } finally {
      await Promise.all([client.close(), wrong.close()]);
      await close(upstream.server);
    }
  });

  it('asks for a new token when the upstream refuses a cached one', async () => {
    let tokens = 0;
    let revoked = new Set<string>();
    const upstream = await serve((req, res, url) => {
      if (url.pathname === '/token') {
        res.writeHead(200);
        res.end(JSON.stringify({ access_token: `t${++tokens}`, expires_in: 3600 }));
        return;
      }
      const token = req.headers.authorization?.replace('Bearer ', '');
      if (!token || revoked.has(token)) {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="s"` });
        res.end();
        return;
      }
      registryContent(res, url);
    });
    const client = new UpstreamClient({ url: upstream.url });
    try {
      assert.ok(await client.getManifest('library/busybox', '1', []));
      revoked = new Set(['t1']);
      assert.ok(await client.getManifest('library/busybox', '1', []));
      assert.equal(tokens, 2);
    } finally {
      await client.close();
      await close(upstream.server);
    }
  });

  it('tells rate limiting (with Retry-After), server errors, timeouts and an unreachable upstream apart', async () => {
    let mode: 'limit' | 'limit-date' | 'fail' | 'hang' = 'limit';
    const upstream = await serve((_req, res) => {
      if (mode === 'limit') res.writeHead(429, { 'retry-after': '120' }).end('{"errors":[{"code":"TOOMANYREQUESTS"}]}');
      else if (mode === 'limit-date') res.writeHead(429, { 'retry-after': new Date(Date.now() + 30_000).toUTCString() }).end();
      else if (mode === 'fail') res.writeHead(502).end();
      // hang: never answers
    });
    const client = new UpstreamClient({ url: upstream.url, timeoutMs: 300 });
    const outcomes: Array<number | UpstreamFailure> = [];
    const observed = new UpstreamClient({ url: 'http://127.0.0.1:1', onResponse: (_kind, outcome) => outcomes.push(outcome) });
    try {
      const limited = await failureOf(client.headManifest('library/busybox', '1', []));
      assert.equal(limited.failure, 'rate-limited');
      assert.equal(limited.retryAfterS, 120);
      mode = 'limit-date';
      const limitedUntil = await failureOf(client.getBlob('library/busybox', layerDigest));
      assert.ok(limitedUntil.retryAfterS !== undefined && limitedUntil.retryAfterS > 20 && limitedUntil.retryAfterS <= 31);
      mode = 'fail';
      const failed = await failureOf(client.getManifest('library/busybox', '1', []));
      assert.equal(failed.failure, 'server-error');
      assert.equal(failed.status, 502);
      mode = 'hang';
      assert.equal((await failureOf(client.getManifest('library/busybox', '1', []))).failure, 'timeout');
      assert.equal((await failureOf(observed.getManifest('library/busybox', '1', []))).failure, 'unreachable');
      assert.deepEqual(outcomes, ['unreachable']);
    } finally {
      await Promise.all([client.close(), observed.close()]);
      await close(upstream.server);
    }
  });

  it('refuses a manifest whose content does not match the digest asked for or named, or that is too large', async () => {
    const other = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: ['tampered'] }));
    const upstream = await serve((_req, res, url) => {
      if (url.pathname.endsWith('/huge')) {
        res.writeHead(200, { 'content-type': OCI_MANIFEST });
        res.end(Buffer.alloc(MAX_UPSTREAM_MANIFEST_BYTES + 1, 0x20));
      } else if (url.pathname.endsWith('/lying-tag')) {
        res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': manifestDigest });
        res.end(other);
      } else {
        res.writeHead(200, { 'content-type': OCI_MANIFEST });
        res.end(other);
      }
    });
    const client = new UpstreamClient({ url: upstream.url });
    try {
      const mismatch = await failureOf(client.getManifest('library/busybox', manifestDigest, [OCI_MANIFEST]));
      assert.equal(mismatch.failure, 'invalid');
      assert.match(mismatch.message, /content of digest/);
      assert.equal((await failureOf(client.getManifest('library/busybox', 'lying-tag', [OCI_MANIFEST]))).failure, 'invalid');
      const huge = await failureOf(client.getManifest('library/busybox', 'huge', [OCI_MANIFEST]));
      assert.equal(huge.failure, 'invalid');
      assert.match(huge.message, /more than 4194304/);
      const byTag = await client.getManifest('library/busybox', 'plain-tag', [OCI_MANIFEST]);
      assert.equal(byTag?.digest, `sha256:${createHash('sha256').update(other).digest('hex')}`, 'a tag: the digest of what came');
    } finally {
      await client.close();
      await close(upstream.server);
    }
  });

  it('follows a blob redirect to another host without sending the credentials there', async () => {
    const storage = await serve((_req, res) => res.writeHead(200, { 'content-length': layer.length }).end(layer));
    const upstream = await serve((req, res, url) => {
      if (req.headers.authorization !== basicHeader) res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      else res.writeHead(307, { location: `${storage.url}/blobs${url.pathname}?signed=1` }).end();
    });
    const client = new UpstreamClient({ url: upstream.url, credentials });
    try {
      const blob = await client.getBlob('library/busybox', layerDigest);
      assert.deepEqual(Buffer.concat(await blob!.body.toArray()), layer);
      assert.deepEqual(storage.requests, [{ path: `/blobs/v2/library/busybox/blobs/${layerDigest}?signed=1` }]);
    } finally {
      await client.close();
      await Promise.all([close(upstream.server), close(storage.server)]);
    }
  });
});
