// The mirror's client of one upstream registry (Docker Hub or any distribution-spec registry): manifests and
// blobs of one repository, pulled anonymously, with Basic credentials, or with the bearer tokens of the
// distribution token spec, over one keep-alive connection pool. It fetches and checks; storing, coalescing and
// metrics are the mirror service's. Credentials and tokens never reach a log line or an error message.
import { getCACertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import type { Agent, Dispatcher } from 'undici';
import { undici } from '../http/undici.ts';
import type { Logger } from 'pino';
import { newHash, tryParseDigest, type DigestAlgorithm } from '../oci/digest.ts';
import { MANIFEST_MEDIA_TYPES } from '../oci/manifest.ts';
import { parseChallenges, parseTokenResponse, pullScope, TokenCache, type TokenGrant } from './upstream-auth.ts';

export interface UpstreamOptions {
  /** https://host[:port], no path */
  url: string;
  credentials?: { username: string; password: string };
  /** an extra CA to trust besides the system's (a self-signed upstream) */
  caPem?: string;
  /** connecting, waiting for response headers, and the longest pause within a body; default 30 s */
  timeoutMs?: number;
  /** called once per HTTP exchange with the upstream (for metrics): its status, or why there was none */
  onResponse?: (kind: UpstreamRequestKind, outcome: number | UpstreamFailure) => void;
}

export interface UpstreamManifestHead { digest: string; mediaType: string; size: number }
export interface UpstreamManifest extends UpstreamManifestHead { content: Buffer }
/** `size` is the upstream's Content-Length (-1 when it sent none); `body` is the raw response stream, unverified */
export interface UpstreamBlob { size: number; body: Readable }

export type UpstreamRequestKind = 'manifest-head' | 'manifest' | 'blob' | 'token';
export type UpstreamFailure = 'unreachable' | 'timeout' | 'rate-limited' | 'unauthorized' | 'server-error' | 'invalid';

export class UpstreamError extends Error {
  readonly failure: UpstreamFailure;
  readonly status?: number;
  /** from a 429's Retry-After, when it had one */
  readonly retryAfterS?: number;

  constructor(failure: UpstreamFailure, message: string, details: { status?: number; retryAfterS?: number; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'UpstreamError';
    this.failure = failure;
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterS !== undefined) this.retryAfterS = details.retryAfterS;
  }
}

/** Manifests larger than this are refused (distribution's own limit is 4 MiB too). */
export const MAX_UPSTREAM_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;
const DEFAULT_TIMEOUT_MS = 30_000;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/**
 * What a failed exchange with an upstream means to the mirror. Also for errors a blob body emits after
 * getBlob returned (a reset connection, a stalled body).
 */
export function upstreamFailureOf(error: unknown, host: string): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const name = typeof code === 'string' ? code : (error as Error | null)?.name ?? 'error';
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) {
    return new UpstreamError('timeout', `upstream ${host} timed out (${code})`, { cause: error });
  }
  return new UpstreamError('unreachable', `upstream ${host} is unreachable (${name})`, { cause: error });
}

type AuthScheme = { kind: 'anonymous' } | { kind: 'basic' } | { kind: 'bearer'; realm: string; service?: string };

function firstHeader(response: Dispatcher.ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Retry-After in seconds: delta-seconds or an HTTP date */
function retryAfterSeconds(value: string | undefined, nowMs = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

function mediaTypeOf(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type ? type : undefined;
}

export class UpstreamClient {
  readonly host: string;
  readonly #origin: string;
  readonly #options: UpstreamOptions;
  readonly #agent: Agent;
  readonly #logger: Logger | undefined;
  readonly #tokens = new TokenCache();
  #auth: AuthScheme = { kind: 'anonymous' };

  constructor(options: UpstreamOptions, logger?: Logger) {
    const url = new URL(options.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`upstream URL must be http(s): ${url.protocol}`);
    this.#origin = url.origin;
    this.host = url.host;
    this.#options = options;
    this.#logger = logger?.child({ upstream: this.host });
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#agent = new (undici().Agent)({
      keepAliveTimeout: 30_000,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connect: {
        timeout: timeoutMs,
        // `ca` replaces the trusted set, so the extra CA joins the default one (system store, NODE_EXTRA_CA_CERTS)
        ...(options.caPem ? { ca: [...getCACertificates('default'), options.caPem] } : {}),
      },
    });
  }

  /** The manifest's digest, type and size; null when the upstream does not have it. */
  async headManifest(repository: string, reference: string, accept: string[]): Promise<UpstreamManifestHead | null> {
    const response = await this.#fetch('manifest-head', repository, 'HEAD', `/v2/${repository}/manifests/${reference}`, accept);
    if (!response) return null;
    await response.body.dump();
    const headerDigest = tryParseDigest(firstHeader(response, 'docker-content-digest') ?? '')?.value;
    const referenceDigest = tryParseDigest(reference)?.value;
    if (headerDigest && referenceDigest && headerDigest !== referenceDigest) {
      throw new UpstreamError('invalid', `upstream ${this.host} answered ${reference} with the digest ${headerDigest}`);
    }
    const digest = headerDigest ?? referenceDigest;
    const mediaType = mediaTypeOf(firstHeader(response, 'content-type'));
    const size = Number(firstHeader(response, 'content-length') ?? NaN);
    if (digest && mediaType && MANIFEST_MEDIA_TYPES.includes(mediaType) && Number.isSafeInteger(size)) {
      return { digest, mediaType, size };
    }
    // a registry that leaves out what a HEAD should say: the GET says it
    const manifest = await this.getManifest(repository, reference, accept);
    return manifest && { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size };
  }

  /**
   * The manifest; null when the upstream does not have it. Its content is checked against the digest asked for
   * (or, for a tag, the digest the upstream names), and refused above 4 MiB.
   */
  async getManifest(repository: string, reference: string, accept: string[]): Promise<UpstreamManifest | null> {
    const response = await this.#fetch('manifest', repository, 'GET', `/v2/${repository}/manifests/${reference}`, accept);
    if (!response) return null;
    const content = await this.#readBody(response, MAX_UPSTREAM_MANIFEST_BYTES, `manifest ${repository}:${reference}`);
    const expected = tryParseDigest(reference) ?? tryParseDigest(firstHeader(response, 'docker-content-digest') ?? '');
    const algorithm: DigestAlgorithm = expected?.algorithm ?? 'sha256';
    const digest = `${algorithm}:${newHash(algorithm).update(content).digest('hex')}`;
    if (expected && expected.value !== digest) {
      throw new UpstreamError('invalid', `upstream ${this.host} sent manifest ${repository}@${expected.value} with content of digest ${digest}`);
    }
    const mediaType = this.#manifestMediaType(response, content);
    if (!mediaType) throw new UpstreamError('invalid', `upstream ${this.host} sent manifest ${repository}:${reference} without a media type`);
    return { digest, mediaType, size: content.length, content };
  }

  /** The blob's response stream (redirects followed); null when the upstream does not have it. */
  async getBlob(repository: string, digest: string): Promise<UpstreamBlob | null> {
    const response = await this.#fetch('blob', repository, 'GET', `/v2/${repository}/blobs/${digest}`);
    if (!response) return null;
    const length = Number(firstHeader(response, 'content-length') ?? NaN);
    return { size: Number.isSafeInteger(length) ? length : -1, body: response.body };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  /** A successful response, or null for a 404; any other status is thrown as its UpstreamError. */
  async #fetch(kind: UpstreamRequestKind, repository: string, method: 'GET' | 'HEAD', path: string, accept?: string[]): Promise<Dispatcher.ResponseData | null> {
    const response = await this.#send(kind, repository, method, path, accept);
    if (response.statusCode === 404) {
      await response.body.dump();
      return null;
    }
    await this.#expectSuccess(response, kind);
    return response;
  }

  /** One request with whatever authorization the upstream asked for; a 401 is answered once with a new one. */
  async #send(kind: UpstreamRequestKind, repository: string, method: 'GET' | 'HEAD', path: string, accept?: string[]): Promise<Dispatcher.ResponseData> {
    let scope = pullScope(repository);
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.#authorization(scope);
      const headers: Record<string, string> = {};
      if (accept?.length) headers.accept = accept.join(', ');
      if (authorization) headers.authorization = authorization;
      const response = await this.#exchange(kind, method, `${this.#origin}${path}`, headers);
      if (response.statusCode !== 401 || attempt > 0) return response;

      const challenges = parseChallenges(response.headers['www-authenticate']);
      await response.body.dump();
      const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
      const basic = challenges.find((c) => c.scheme === 'basic');
      if (bearer) {
        if (authorization?.startsWith('Bearer ')) this.#tokens.forget(scope, authorization.slice('Bearer '.length));
        this.#auth = { kind: 'bearer', realm: bearer.params.realm!, ...(bearer.params.service ? { service: bearer.params.service } : {}) };
        scope = bearer.params.scope ?? scope;
      } else if (basic && this.#options.credentials && this.#auth.kind !== 'basic') {
        this.#auth = { kind: 'basic' };
      } else {
        const why = basic ? (this.#options.credentials ? 'refused the credentials' : 'requires credentials') : 'asks for an authentication scheme we do not speak';
        throw new UpstreamError('unauthorized', `upstream ${this.host} ${why} (401 on ${method} ${path})`, { status: 401 });
      }
    }
  }

  async #authorization(scope: string): Promise<string | undefined> {
    const auth = this.#auth;
    const credentials = this.#options.credentials;
    if (auth.kind === 'basic') return credentials && basicAuthorization(credentials);
    if (auth.kind === 'bearer') return `Bearer ${await this.#tokens.get(scope, () => this.#issueToken(auth, scope))}`;
    return undefined;
  }

  /** GET realm?service=&scope= (distribution token spec), with Basic credentials when we have them */
  async #issueToken(auth: { realm: string; service?: string }, scope: string): Promise<TokenGrant> {
    let url: URL;
    try {
      url = new URL(auth.realm);
    } catch {
      throw new UpstreamError('invalid', `upstream ${this.host} names a token realm that is not a URL`);
    }
    // credentials never travel in clear text to a host we did not choose
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && url.origin === this.#origin)) {
      throw new UpstreamError('invalid', `upstream ${this.host} names a token realm that is not https: ${url.origin}`);
    }
    if (auth.service) url.searchParams.set('service', auth.service);
    url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (this.#options.credentials) headers.authorization = basicAuthorization(this.#options.credentials);
    const response = await this.#exchange('token', 'GET', url.href, headers);
    if (response.statusCode === 401 || response.statusCode === 403) {
      await response.body.dump();
      const why = this.#options.credentials ? 'refused the credentials' : 'refused an anonymous token';
      throw new UpstreamError('unauthorized', `token endpoint ${url.host} of upstream ${this.host} ${why} (${response.statusCode})`, { status: response.statusCode });
    }
    await this.#expectSuccess(response, 'token');
    const grant = parseTokenResponse((await this.#readBody(response, MAX_TOKEN_RESPONSE_BYTES, 'token response')).toString('utf8'));
    if (!grant) throw new UpstreamError('invalid', `token endpoint ${url.host} of upstream ${this.host} sent no token`);
    this.#logger?.debug({ scope, expiresInS: grant.expiresInS }, 'upstream token issued');
    return grant;
  }

  /** One HTTP exchange, redirects followed (a blob's storage is often another host: no credentials go there). */
  async #exchange(kind: UpstreamRequestKind, method: 'GET' | 'HEAD', url: string, headers: Record<string, string>): Promise<Dispatcher.ResponseData> {
    let target = new URL(url);
    const firstOrigin = target.origin;
    for (let redirects = 0; ; redirects++) {
      let response: Dispatcher.ResponseData;
      try {
        response = await undici().request(target, { method, headers, dispatcher: this.#agent });
      } catch (error) {
        const failure = upstreamFailureOf(error, target.host);
        this.#options.onResponse?.(kind, failure.failure);
        this.#logger?.debug({ kind, method, path: target.pathname, failure: failure.failure }, 'upstream request failed');
        throw failure;
      }
      this.#options.onResponse?.(kind, response.statusCode);
      this.#logger?.debug({ kind, method, host: target.host, path: target.pathname, status: response.statusCode }, 'upstream request');
      const location = firstHeader(response, 'location');
      if (!REDIRECT_STATUSES.has(response.statusCode) || !location) return response;
      await response.body.dump();
      if (redirects >= MAX_REDIRECTS) {
        throw new UpstreamError('invalid', `upstream ${this.host} redirected more than ${MAX_REDIRECTS} times`, { status: response.statusCode });
      }
      target = new URL(location, target);
      if (target.origin !== firstOrigin) delete headers.authorization;
    }
  }

  /** Throws the UpstreamError a non-2xx status means (404 is the caller's to handle before). */
  async #expectSuccess(response: Dispatcher.ResponseData, kind: UpstreamRequestKind): Promise<void> {
    const status = response.statusCode;
    if (status >= 200 && status < 300) return;
    await response.body.dump().catch(() => undefined);
    if (status === 429) {
      const retryAfterS = retryAfterSeconds(firstHeader(response, 'retry-after'));
      const after = retryAfterS === undefined ? '' : `, retry after ${retryAfterS} s`;
      throw new UpstreamError('rate-limited', `upstream ${this.host} is rate limiting (429${after})`, {
        status, ...(retryAfterS === undefined ? {} : { retryAfterS }),
      });
    }
    if (status === 401 || status === 403) {
      throw new UpstreamError('unauthorized', `upstream ${this.host} denied the ${kind} request (${status})`, { status });
    }
    if (status >= 500) throw new UpstreamError('server-error', `upstream ${this.host} failed (${status})`, { status });
    throw new UpstreamError('invalid', `upstream ${this.host} answered the ${kind} request with ${status}`, { status });
  }

  async #readBody(response: Dispatcher.ResponseData, limit: number, what: string): Promise<Buffer> {
    const declared = Number(firstHeader(response, 'content-length') ?? NaN);
    if (declared > limit) {
      response.body.destroy();
      throw new UpstreamError('invalid', `upstream ${this.host} sent a ${what} of ${declared} bytes, more than ${limit}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > limit) {
          response.body.destroy();
          throw new UpstreamError('invalid', `upstream ${this.host} sent a ${what} of more than ${limit} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      throw upstreamFailureOf(error, this.host);
    }
    return Buffer.concat(chunks, size);
  }

  /** Content-Type when it names a manifest type; otherwise the document's own mediaType field */
  #manifestMediaType(response: Dispatcher.ResponseData, content: Buffer): string | undefined {
    const fromHeader = mediaTypeOf(firstHeader(response, 'content-type'));
    if (fromHeader && MANIFEST_MEDIA_TYPES.includes(fromHeader)) return fromHeader;
    try {
      const field = (JSON.parse(content.toString('utf8')) as { mediaType?: unknown }).mediaType;
      if (typeof field === 'string' && field) return field;
    } catch {
      // not JSON: the header is all there is
    }
    return fromHeader;
  }
}

function basicAuthorization(credentials: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}
