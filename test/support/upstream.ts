// The upstream a pull-through mirror is tested against: real CNCF distribution 2.8 (Debian's docker-registry) with
// TLS and token auth (`auth.token`), tokens minted by a token endpoint in this process with the key distribution
// trusts, behind a counting, fault-injecting HTTPS proxy in this process. What Docker Hub is to a real mirror.
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, request as httpsRequest, Agent as HttpsAgent, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Agent, request } from 'undici';
import { stringify as toYaml } from 'yaml';
import { freePort, waitForListening } from './registry.ts';
import { makeTestCertificate } from './tls.ts';
import { sha256, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST } from './oci.ts';
import { run } from '../registry/tools.ts';

export const DISTRIBUTION_BINARY = '/usr/bin/docker-registry';
const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const SERVICE = 'regop-test-upstream';
const ISSUER = 'regop-test-token-issuer';
const BLOB_PATH = /^\/v2\/(.+)\/blobs\/([a-z0-9]+:[a-f0-9]+)$/;
const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/]+)$/;
/** slow-blobs: this much, then a pause, for as long as the fault lasts */
const SLOW_CHUNK_BYTES = 64 * 1024;
const SLOW_PAUSE_MS = 50;

export type UpstreamFault = 'none' | 'down' | 'rate-limit' | 'corrupt-blobs' | 'corrupt-manifests' | 'slow-blobs';

export interface UpstreamRequest {
  method: string;
  /** without the query */
  path: string;
  status: number;
  /** the proxy has sent the whole response body */
  done: boolean;
  /** body bytes the proxy relayed from distribution so far (token and fault answers count 0) */
  bytes: number;
}

export interface Descriptor { mediaType: string; digest: string; size: number }

export interface UpstreamImage {
  repository: string;
  /** none for an index's platform images (pushed by digest) */
  tag?: string;
  /** the manifest's digest */
  digest: string;
  mediaType: string;
  manifest: Buffer;
  config: Descriptor;
  layers: Descriptor[];
  platform: { os: string; architecture: string };
}

export interface UpstreamIndex {
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  manifest: Buffer;
  /** one image per platform, each with layers of its own */
  images: UpstreamImage[];
}

export interface Upstream {
  /** https://<host>:<port> of the proxy: what a mirror is configured with */
  url: string;
  /** <host>:<port> */
  host: string;
  /** the CA that signed the proxy's (and distribution's) certificate */
  caPem: string;
  /** a directory holding that CA as ca.crt, for `--cert-dir` / `--src-cert-dir` of podman and skopeo */
  certDir: string;
  /** accepted by the token endpoint (pull, push and delete on everything) */
  credentials: { username: string; password: string };
  /** requests the proxy answered (token requests included, as path /token) */
  requests: UpstreamRequest[];
  /** GET /v2/.../blobs/<digest> answered with anything but 401 (an auth challenge fetches nothing) */
  blobGets(digest?: string): number;
  /** GET or HEAD /v2/.../manifests/<reference> answered with anything but 401 */
  manifestRequests(method?: 'GET' | 'HEAD'): number;
  /** tokens the token endpoint issued, for a scope such as `repository:library/busybox:pull` or for any */
  tokensIssued(scope?: string): number;
  /**
   * none; down: connections refused (the listener is closed, open connections cut); rate-limit: 429 with
   * Retry-After on everything; corrupt-blobs / corrupt-manifests: a byte of every blob / manifest body flipped
   * (the length kept, so only a digest check notices); slow-blobs: blob bodies
   * trickle in 64 KiB steps until the fault changes. Await it: going down or up again is not instant.
   */
  setFault(fault: UpstreamFault): Promise<void>;
  /** a small single-platform image with one real tar+gzip layer (runnable by nothing, pullable by everything) */
  pushImage(repository: string, tag: string, platform?: { os: string; architecture: string }): Promise<UpstreamImage>;
  /** an OCI index of linux/amd64 and linux/arm64 images with different layers */
  pushIndex(repository: string, tag: string): Promise<UpstreamIndex>;
  /** an image whose one layer is an uncompressed tar of one random file, `layerBytes` long (default 100 MiB), streamed */
  pushLargeImage(repository: string, tag: string, layerBytes?: number): Promise<UpstreamImage>;
  /** copies a docker-archive (e.g. the local cluster's busybox) into the upstream with skopeo */
  pushArchive(archivePath: string, repository: string, tag: string): Promise<void>;
  /** distribution's output */
  logs(): string;
  stop(): Promise<void>;
}

export interface UpstreamStartOptions {
  /** where the proxy (and the token endpoint) listen; default 127.0.0.1. The e2e uses the node IP 10.217.0.1. */
  bindAddress?: string;
  /** the proxy's port; default: any free one */
  port?: number;
  /** anonymous token requests are granted pull, as Docker Hub grants it for public images; default true */
  anonymousPull?: boolean;
  /** expires_in of issued tokens; default 300 s */
  tokenLifetimeS?: number;
}

interface Access { type: string; name: string; actions: string[] }

/** `repository:library/busybox:pull,push` → access entry (a name may contain ':' as in host:port prefixes) */
function parseScope(scope: string): Access | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return null;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

/** A JWT distribution's `auth.token` accepts: RS256, the signing certificate in x5c (chained to rootcertbundle). */
function signToken(claims: Record<string, unknown>, keyPem: string, certificatePem: string): string {
  const header = { typ: 'JWT', alg: 'RS256', x5c: [new X509Certificate(certificatePem).raw.toString('base64')] };
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(header)}.${encode(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), keyPem).toString('base64url')}`;
}

/** A ustar header for one regular file (what a layer tar needs; no long names). */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => header.write(value, offset, length, 'ascii');
  const octal = (offset: number, length: number, value: number) => field(offset, length, value.toString(8).padStart(length - 1, '0'));
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, Math.floor(Date.now() / 1000));
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let checksum = 0;
  for (const byte of header) checksum += byte;
  field(148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

function tarPadding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/** a one-file tar, in memory (small layers) */
function smallTar(name: string, content: Buffer): Buffer {
  return Buffer.concat([tarHeader(name, content.length), content, tarPadding(content.length), Buffer.alloc(1024)]);
}

/** a one-file tar of `size` random bytes, generated as it is read */
function largeTar(name: string, size: number): Readable {
  return Readable.from((async function* () {
    yield tarHeader(name, size);
    for (let left = size; left > 0;) {
      const chunk = Math.min(left, 1024 * 1024);
      yield randomBytes(chunk);
      left -= chunk;
    }
    yield Buffer.concat([tarPadding(size), Buffer.alloc(1024)]);
  })());
}

/** resolves when a response can take more, or is gone */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function hostPort(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

export async function startUpstream(options: UpstreamStartOptions = {}): Promise<Upstream> {
  const bindAddress = options.bindAddress ?? '127.0.0.1';
  const anonymousPull = options.anonymousPull ?? true;
  const tokenLifetimeS = options.tokenLifetimeS ?? 300;
  const workDir = mkdtempSync(join(tmpdir(), 'regop-upstream-'));
  const certDir = join(workDir, 'certs');
  mkdirSync(certDir);
  // one certificate for the proxy, distribution and the token signer: distribution's rootcertbundle is its CA
  const certificate = await makeTestCertificate([...new Set(['localhost', '127.0.0.1', bindAddress])]);
  writeFileSync(join(certDir, 'ca.crt'), certificate.caPem);
  writeFileSync(join(workDir, 'tls.crt'), certificate.certPem);
  writeFileSync(join(workDir, 'tls.key'), certificate.keyPem, { mode: 0o600 });
  const credentials = { username: 'upstream-user', password: randomBytes(12).toString('hex') };

  const requests: UpstreamRequest[] = [];
  const issued: Array<{ scopes: string[] }> = [];
  let fault: UpstreamFault = 'none';

  function mintToken(subject: string, access: Access[]): string {
    const now = Math.floor(Date.now() / 1000);
    return signToken({
      iss: ISSUER, sub: subject, aud: SERVICE, exp: now + tokenLifetimeS, nbf: now - 10, iat: now, jti: randomUUID(), access,
    }, certificate.keyPem, certificate.certPem);
  }

  /** the distribution token spec's GET /token?service=&scope=…, Basic credentials optional */
  function serveToken(req: IncomingMessage, res: ServerResponse, url: URL): number {
    const authorization = req.headers.authorization;
    let subject = '';
    if (authorization) {
      const [scheme, encoded] = authorization.split(' ');
      const decoded = scheme?.toLowerCase() === 'basic' && encoded ? Buffer.from(encoded, 'base64').toString('utf8') : '';
      if (decoded !== `${credentials.username}:${credentials.password}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return 401;
      }
      subject = credentials.username;
    }
    const scopes = url.searchParams.getAll('scope').flatMap((scope) => scope.split(' ')).filter(Boolean);
    const access = scopes.map(parseScope).filter((entry): entry is Access => entry !== null).map((entry) => ({
      ...entry,
      actions: subject ? entry.actions : entry.actions.filter((action) => anonymousPull && action === 'pull'),
    }));
    issued.push({ scopes });
    const token = mintToken(subject, access);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: tokenLifetimeS, issued_at: new Date().toISOString() }));
    return 200;
  }

  // distribution, on loopback only: everything from outside goes through the proxy
  const distributionPort = await freePort();
  const distributionOrigin = `https://127.0.0.1:${distributionPort}`;
  const proxy = createHttpsServer({ cert: certificate.certPem, key: certificate.keyPem });
  const toDistribution = new HttpsAgent({ keepAlive: true, ca: certificate.caPem });

  function forward(req: IncomingMessage, res: ServerResponse, entry: UpstreamRequest): void {
    const headers = { ...req.headers };
    delete headers.connection;
    delete headers['keep-alive'];
    const upstreamRequest = httpsRequest(`${distributionOrigin}${req.url}`, { method: req.method, headers, agent: toDistribution }, (upstreamResponse) => {
      entry.status = upstreamResponse.statusCode ?? 502;
      const responseHeaders = { ...upstreamResponse.headers };
      delete responseHeaders.connection;
      delete responseHeaders['keep-alive'];
      res.writeHead(entry.status, responseHeaders);
      const body = req.method !== 'GET' || entry.status !== 200 ? 'other'
        : BLOB_PATH.test(entry.path) ? 'blob' : MANIFEST_PATH.test(entry.path) ? 'manifest' : 'other';
      void relayBody(upstreamResponse, res, body, entry).then(() => { entry.done = true; }, () => upstreamResponse.destroy());
    });
    upstreamRequest.on('error', () => {
      if (!res.headersSent) {
        entry.status = 502;
        res.writeHead(502).end();
      } else res.destroy();
    });
    req.pipe(upstreamRequest);
  }

  /** copies a response body, corrupting or trickling blob and manifest bodies while those faults are set */
  async function relayBody(source: IncomingMessage, res: ServerResponse, body: 'blob' | 'manifest' | 'other', entry: UpstreamRequest): Promise<void> {
    let corrupted = false;
    const isBlobBody = body === 'blob';
    for await (const received of source) {
      let chunk = received as Buffer;
      const corrupt = (isBlobBody && fault === 'corrupt-blobs') || (body === 'manifest' && fault === 'corrupt-manifests');
      if (corrupt && !corrupted && chunk.length > 0) {
        chunk = Buffer.from(chunk);
        chunk[0] = chunk[0]! ^ 0xff;
        corrupted = true;
      }
      while (chunk.length > 0) {
        const slow = isBlobBody && fault === 'slow-blobs';
        const piece = slow ? chunk.subarray(0, SLOW_CHUNK_BYTES) : chunk;
        chunk = chunk.subarray(piece.length);
        if (res.destroyed) throw new Error('client went away');
        entry.bytes += piece.length;
        if (!res.write(piece)) await drained(res);
        if (slow) await new Promise((resolve) => setTimeout(resolve, SLOW_PAUSE_MS));
      }
    }
    await new Promise<void>((resolve) => res.end(resolve));
  }

  proxy.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://upstream');
    const entry: UpstreamRequest = { method: req.method ?? 'GET', path: url.pathname, status: 0, done: false, bytes: 0 };
    requests.push(entry);
    res.on('finish', () => { entry.done = true; });
    if (fault === 'rate-limit') {
      entry.status = 429;
      res.writeHead(429, { 'retry-after': '60', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit reached (test upstream)"}]}');
      return;
    }
    if (url.pathname === '/token') {
      entry.status = serveToken(req, res, url);
      return;
    }
    forward(req, res, entry);
  });

  const listenPort = options.port ?? 0;
  let listening = false;
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(port, bindAddress, () => {
      proxy.off('error', reject);
      listening = true;
      resolve();
    });
  });
  await listen(listenPort);
  const proxyPort = (proxy.address() as { port: number }).port;
  const host = hostPort(bindAddress, proxyPort);
  const url = `https://${host}`;

  const storageDir = join(workDir, 'storage');
  writeFileSync(join(workDir, 'config.yml'), toYaml({
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: storageDir }, delete: { enabled: true } },
    http: {
      addr: `127.0.0.1:${distributionPort}`,
      secret: randomBytes(16).toString('hex'),
      tls: { certificate: join(workDir, 'tls.crt'), key: join(workDir, 'tls.key') },
    },
    auth: { token: { realm: `${url}/token`, service: SERVICE, issuer: ISSUER, rootcertbundle: join(certDir, 'ca.crt') } },
  }));
  const child = spawn(DISTRIBUTION_BINARY, ['serve', join(workDir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (data) => (output += data));
  child.stderr.on('data', (data) => (output += data));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForListening(child, distributionPort, () => output);
  } catch (error) {
    proxy.close();
    rmSync(workDir, { recursive: true, force: true });
    throw error;
  }

  // content goes into distribution directly, with a token minted here: it shows in no count
  const direct = new Agent({ connect: { ca: certificate.caPem } });
  const pushAuthorization = (repository: string) =>
    `Bearer ${mintToken(credentials.username, [{ type: 'repository', name: repository, actions: ['pull', 'push'] }])}`;

  async function startUpload(repository: string): Promise<URL> {
    const response = await request(`${distributionOrigin}/v2/${repository}/blobs/uploads/`, {
      method: 'POST', dispatcher: direct, headers: { authorization: pushAuthorization(repository) },
    });
    await response.body.dump();
    const location = response.headers.location;
    if (response.statusCode !== 202 || typeof location !== 'string') throw new Error(`upload start failed: ${response.statusCode}`);
    return new URL(location, distributionOrigin);
  }

  async function finishUpload(repository: string, location: URL, digest: string, body?: Buffer): Promise<void> {
    location.searchParams.set('digest', digest);
    const response = await request(location, {
      method: 'PUT', dispatcher: direct,
      headers: { authorization: pushAuthorization(repository), 'content-type': 'application/octet-stream' },
      ...(body ? { body } : {}),
    });
    const text = await response.body.text();
    if (response.statusCode !== 201) throw new Error(`blob push failed: ${response.statusCode} ${text}`);
  }

  async function pushBlob(repository: string, content: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = sha256(content);
    await finishUpload(repository, await startUpload(repository), digest, content);
    return { mediaType, digest, size: content.length };
  }

  /** streams a body into one PATCH, hashing it on the way */
  async function pushBlobStream(repository: string, body: Readable, mediaType: string): Promise<Descriptor> {
    const hash = createHash('sha256');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const location = await startUpload(repository);
    const response = await request(location, {
      method: 'PATCH', dispatcher: direct,
      headers: { authorization: pushAuthorization(repository), 'content-type': 'application/octet-stream' },
      body: body.pipe(hashing),
    });
    await response.body.dump();
    const next = response.headers.location;
    if (response.statusCode !== 202 || typeof next !== 'string') throw new Error(`blob upload failed: ${response.statusCode}`);
    const digest = `sha256:${hash.digest('hex')}`;
    await finishUpload(repository, new URL(next, distributionOrigin), digest);
    return { mediaType, digest, size };
  }

  async function pushManifest(repository: string, reference: string, content: Buffer, mediaType: string): Promise<string> {
    const response = await request(`${distributionOrigin}/v2/${repository}/manifests/${reference}`, {
      method: 'PUT', dispatcher: direct, body: content,
      headers: { authorization: pushAuthorization(repository), 'content-type': mediaType },
    });
    const text = await response.body.text();
    if (response.statusCode !== 201) throw new Error(`manifest push failed: ${response.statusCode} ${text}`);
    return sha256(content);
  }

  /** config (with the layers' diff_ids), then the manifest under the tag (or its digest) */
  async function pushImageOf(repository: string, tag: string | undefined, layers: Array<Descriptor & { diffId: string }>,
    platform: { os: string; architecture: string }): Promise<UpstreamImage> {
    const config = await pushBlob(repository, Buffer.from(JSON.stringify({
      ...platform, created: new Date().toISOString(),
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    })), OCI_CONFIG);
    const descriptors = layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: descriptors }));
    const digest = await pushManifest(repository, tag ?? sha256(manifest), manifest, OCI_MANIFEST);
    return { repository, ...(tag ? { tag } : {}), digest, mediaType: OCI_MANIFEST, manifest, config, layers: descriptors, platform };
  }

  async function smallLayer(repository: string, platform: { os: string; architecture: string }) {
    const tar = smallTar(`hello-${platform.architecture}.txt`, Buffer.from(`${repository} ${platform.os}/${platform.architecture} ${randomUUID()}\n`));
    return { ...(await pushBlob(repository, gzipSync(tar), OCI_LAYER_GZIP)), diffId: sha256(tar) };
  }

  const upstream: Upstream = {
    url, host, caPem: certificate.caPem, certDir, credentials, requests,
    blobGets: (digest) => requests.filter((r) => r.method === 'GET' && r.status !== 401 &&
      BLOB_PATH.test(r.path) && (digest === undefined || r.path.endsWith(`/blobs/${digest}`))).length,
    manifestRequests: (method) => requests.filter((r) => (method ? r.method === method : r.method === 'GET' || r.method === 'HEAD') &&
      r.status !== 401 && MANIFEST_PATH.test(r.path)).length,
    tokensIssued: (scope) => issued.filter((issuance) => scope === undefined || issuance.scopes.includes(scope)).length,

    async setFault(next) {
      fault = next;
      if (next === 'down' && listening) {
        listening = false;
        await new Promise<void>((resolve) => {
          proxy.close(() => resolve());
          proxy.closeAllConnections();
        });
      } else if (next !== 'down' && !listening) {
        await listen(proxyPort);
      }
    },

    async pushImage(repository, tag, platform = { os: 'linux', architecture: 'amd64' }) {
      return pushImageOf(repository, tag, [await smallLayer(repository, platform)], platform);
    },

    async pushIndex(repository, tag) {
      const images: UpstreamImage[] = [];
      for (const architecture of ['amd64', 'arm64']) {
        const platform = { os: 'linux', architecture };
        // by digest only, as docker hub holds them: the tag names the index
        images.push(await pushImageOf(repository, undefined, [await smallLayer(repository, platform)], platform));
      }
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: OCI_INDEX,
        manifests: images.map((image) => ({ mediaType: image.mediaType, digest: image.digest, size: image.manifest.length, platform: image.platform })),
      }));
      const digest = await pushManifest(repository, tag, manifest, OCI_INDEX);
      return { repository, tag, digest, mediaType: OCI_INDEX, manifest, images };
    },

    async pushLargeImage(repository, tag, layerBytes = 100 * 1024 * 1024) {
      const layer = await pushBlobStream(repository, largeTar('large.bin', layerBytes), OCI_LAYER_TAR);
      // uncompressed: the diff ID is the blob's digest
      return pushImageOf(repository, tag, [{ ...layer, diffId: layer.digest }], { os: 'linux', architecture: 'amd64' });
    },

    async pushArchive(archivePath, repository, tag) {
      await run('skopeo', ['copy', '--quiet', '--dest-cert-dir', certDir,
        '--dest-creds', `${credentials.username}:${credentials.password}`,
        `docker-archive:${archivePath}`, `docker://127.0.0.1:${distributionPort}/${repository}:${tag}`]);
    },

    logs: () => output,

    async stop() {
      child.kill('SIGTERM');
      await exited;
      if (listening) {
        proxy.closeAllConnections();
        await new Promise<void>((resolve) => proxy.close(() => resolve()));
      }
      toDistribution.destroy();
      await direct.close();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
  return upstream;
}
