// The S3 driver's object GETs, HEADs, small PUTs, DELETEs and listings, sent outside the AWS SDK: each request is
// signed with the SDK's own presigner (credentials from the client, refreshed as the SDK refreshes them) for the URL
// the SDK itself resolves for the bucket, sent with undici, and its answer read here: the few headers the driver
// needs, and S3's error code from the XML body of a failure. Measured on one versitygw: the SDK's GetObject body
// streamed at 105-220 MiB/s where undici fetching a presigned URL streamed at 175-290 MiB/s, and an SDK request
// cost the registry ~1.2 ms of CPU where signing one URL costs a tenth of that (a small push is eleven requests,
// a blob HEAD two). Multipart uploads, copies and batch deletes stay with the SDK: their bodies are XML it writes.
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl, S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { Agent, RetryAgent, request, type Dispatcher } from 'undici';
import type { ByteRange } from './driver.ts';

/** how long a signed URL is valid: only its request must start within that time */
const URL_EXPIRY_SECONDS = 900;
/** bytes undici buffers from a body before it stops reading the socket: a sender's chunk, so S3 never waits on it */
const BODY_BUFFER_BYTES = 1024 * 1024;
/** the end of a failure's body read for its error code (S3's XML errors are a few hundred bytes) */
const ERROR_BODY_BYTES = 16 * 1024;
/** a key whose URL tells where the bucket's keys go (only its URL is made, never a request) */
const PROBE_KEY = 'regop-url-probe';

export interface GetOptions {
  /** connections open at once to the S3 endpoint */
  connections: number;
  connectTimeoutMs: number;
  /** a response on which no byte arrived for this long is cut */
  idleTimeoutMs: number;
}

export interface ObjectResponse {
  /** 200, or 206 for a range */
  status: number;
  /** the whole object's size (a range's answer tells it after the slash of Content-Range) */
  size: number;
  etag: string;
  modifiedAt: Date;
  /** user metadata (x-amz-meta-*), names in lower case */
  metadata: Record<string, string>;
  body: Readable;
}

/** An S3 error answer: `name` is S3's error code, as the SDK's errors have it, so one check reads both. */
export class S3ResponseError extends Error {
  readonly code: string;
  readonly $metadata: { httpStatusCode: number };
  constructor(operation: string, key: string, status: number, code: string) {
    super(`S3 ${operation} ${key}: ${code} (HTTP ${status})`);
    this.name = code;
    this.code = code;
    this.$metadata = { httpStatusCode: status };
  }
}

/** one ListObjectsV2 request */
export interface ListRequest {
  prefix: string;
  delimiter?: string;
  startAfter?: string;
  continuationToken?: string;
  /** at most 1000 */
  maxKeys?: number;
}

export interface ListedPage {
  /** sub-prefixes, each ending in the delimiter */
  commonPrefixes: string[];
  contents: Array<{ key: string; size: number; etag: string; modifiedAt: Date }>;
  /** set when the listing goes on */
  nextContinuationToken?: string;
}

/** where an object's URL starts, and the presigner for it (the SDK's endpoint rules, resolved once) */
interface UrlBase {
  /** e.g. http://127.0.0.1:9000/bucket/ (path style) or https://bucket.s3.eu-west-1.amazonaws.com/ */
  prefix: URL;
  presigner: S3RequestPresigner;
}

/** a key's path segments as the SDK encodes them (RFC 3986: encodeURIComponent leaves !'()* alone) */
function encodeKey(key: string): string {
  return key.split('/').map(escapeUri).join('/');
}

function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export class PresignedRequests {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly dispatcher: Dispatcher;
  private base: Promise<UrlBase | null> | null = null;

  constructor(client: S3Client, bucket: string, options: GetOptions) {
    this.client = client;
    this.bucket = bucket;
    const agent = new Agent({
      connections: options.connections,
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.idleTimeoutMs,
      bodyTimeout: options.idleTimeoutMs,
    });
    // what the SDK retries (5xx, throttling, a connection refused or reset); a body cut mid-way resumes where it was
    this.dispatcher = new RetryAgent(agent, { maxRetries: 2, minTimeout: 200 });
  }

  /** the object (or a range of it) with its body open, which the caller reads or destroys; throws S3ResponseError */
  async get(key: string, range?: ByteRange): Promise<ObjectResponse> {
    const { statusCode, headers, body } = await this.send('GET', key, await this.signedUrl(key), {
      headers: range ? { range: `bytes=${range.start}-${range.end}` } : {},
      highWaterMark: BODY_BUFFER_BYTES,
    });
    if (statusCode !== 200 && statusCode !== 206) {
      throw new S3ResponseError('GET', key, statusCode, await errorCode(body, statusCode));
    }
    const contentRange = header(headers, 'content-range');
    const size = Number(contentRange ? contentRange.split('/')[1] : header(headers, 'content-length'));
    // undici fails a body destroyed before its end with an 'error' event (AbortError), which unheard would crash the
    // process: a caller done with a body destroys it; readers (iteration, pipeline) still see every error
    body.on('error', () => undefined);
    return { status: statusCode, ...headerFields(headers, size), body };
  }

  /** the object's size, ETag, time and user metadata, from a HEAD; null when there is none; throws S3ResponseError */
  async head(key: string): Promise<Omit<ObjectResponse, 'body' | 'status'> | null> {
    const { statusCode, headers, body } = await this.send('HEAD', key, await this.signedUrl(key, URL_EXPIRY_SECONDS, 'HEAD'));
    // a HEAD's answer has no body: reading its end frees the connection
    await body.dump();
    // so a failure carries no error code either: the status tells
    if (statusCode === 404) return null;
    if (statusCode !== 200) throw new S3ResponseError('HEAD', key, statusCode, `HTTP${statusCode}`);
    return headerFields(headers, Number(header(headers, 'content-length')));
  }

  /** PutObject of small content, with user metadata (names in lower case); returns the new object's ETag */
  async put(key: string, content: Buffer | string, metadata: Record<string, string> = {}): Promise<string> {
    const headers = Object.fromEntries(Object.entries(metadata).map(([name, value]) => [`x-amz-meta-${name}`, value]));
    const { statusCode, headers: answer, body } = await this.send('PUT', key, await this.signedUrl(key, URL_EXPIRY_SECONDS, 'PUT', headers), {
      body: content, headers,
    });
    if (statusCode !== 200) throw new S3ResponseError('PUT', key, statusCode, await errorCode(body, statusCode));
    await body.dump();
    return header(answer, 'etag') ?? '';
  }

  /**
   * CopyObject within the bucket (one request, up to 5 GiB), only while the source has the ETag `ifMatch` when one is
   * given; returns the copy's ETag. A failure throws S3ResponseError: NoSuchKey for a missing source,
   * PreconditionFailed (412) for another ETag. undefined when this server's URLs are not of the plain form: the
   * caller then copies through the SDK.
   */
  async copy(from: string, to: string, ifMatch?: string): Promise<string | undefined> {
    const base = await this.resolvedBase();
    if (!base) return undefined;
    const headers: Record<string, string> = { 'x-amz-copy-source': `${this.bucket}/${encodeKey(from)}` };
    if (ifMatch) headers['x-amz-copy-source-if-match'] = ifMatch;
    const url = await presign(base, 'PUT', new URL(base.prefix.pathname + encodeKey(to), base.prefix), {}, headers, URL_EXPIRY_SECONDS);
    const { statusCode, body } = await this.send('COPY', to, url, { headers });
    if (statusCode !== 200) throw new S3ResponseError('COPY', to, statusCode, await errorCode(body, statusCode));
    // S3 may answer 200 to a copy that failed after it started: the body then is an <Error>
    const text = await body.text();
    if (text.includes('<Error>')) throw new S3ResponseError('COPY', to, 200, element(text, 'Code') ?? 'InternalError');
    return element(text, 'ETag') ?? '';
  }

  /** DeleteObject: S3 answers the same whether or not the key was there */
  async delete(key: string): Promise<void> {
    const { statusCode, body } = await this.send('DELETE', key, await this.signedUrl(key, URL_EXPIRY_SECONDS, 'DELETE'));
    if (statusCode !== 204 && statusCode !== 200) throw new S3ResponseError('DELETE', key, statusCode, await errorCode(body, statusCode));
    await body.dump();
  }

  /**
   * One page of ListObjectsV2, sent as a presigned GET and read here: the SDK spent 9-17 ms of CPU parsing a page of
   * 1,000 names, this 3 ms (a tag list of 10,000 is ten pages one after the other). Throws S3ResponseError.
   */
  async list(listing: ListRequest): Promise<ListedPage> {
    const base = await this.resolvedBase();
    if (!base) return this.listThroughSdk(listing);
    const query: Record<string, string> = { 'list-type': '2', prefix: listing.prefix };
    if (listing.delimiter !== undefined) query.delimiter = listing.delimiter;
    if (listing.startAfter !== undefined) query['start-after'] = listing.startAfter;
    if (listing.continuationToken !== undefined) query['continuation-token'] = listing.continuationToken;
    if (listing.maxKeys !== undefined) query['max-keys'] = String(listing.maxKeys);
    // the bucket's URL: /<bucket> in path style, / for a bucket in the host name
    const url = new URL(base.prefix.pathname === '/' ? '/' : base.prefix.pathname.replace(/\/$/, ''), base.prefix);
    const { statusCode, body } = await this.send('LIST', listing.prefix, await presign(base, 'GET', url, query, {}, URL_EXPIRY_SECONDS));
    if (statusCode !== 200) throw new S3ResponseError('LIST', listing.prefix, statusCode, await errorCode(body, statusCode));
    return parseListing(await body.text());
  }

  private async listThroughSdk(listing: ListRequest): Promise<ListedPage> {
    const listed = await this.client.send(new ListObjectsV2Command({
      Bucket: this.bucket, Prefix: listing.prefix, Delimiter: listing.delimiter, StartAfter: listing.startAfter,
      ContinuationToken: listing.continuationToken, MaxKeys: listing.maxKeys,
    }));
    return {
      commonPrefixes: (listed.CommonPrefixes ?? []).flatMap((common) => (common.Prefix ? [common.Prefix] : [])),
      contents: (listed.Contents ?? []).flatMap((object) => object.Key
        ? [{ key: object.Key, size: object.Size ?? 0, etag: object.ETag ?? '', modifiedAt: object.LastModified ?? new Date(0) }]
        : []),
      ...(listed.IsTruncated && listed.NextContinuationToken ? { nextContinuationToken: listed.NextContinuationToken } : {}),
    };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /**
   * A presigned request for the key, valid for that long (a GET of one is what clients are redirected to). `headers`
   * are signed and must be sent as they are.
   */
  async signedUrl(key: string, expiresInSeconds = URL_EXPIRY_SECONDS, method: SignedMethod = 'GET', headers: Record<string, string> = {}): Promise<string> {
    const base = await this.resolvedBase();
    if (!base) {
      return getSignedUrl(this.client, sdkCommand(method, this.bucket, key, headers), {
        expiresIn: expiresInSeconds, unhoistableHeaders: new Set(Object.keys(headers)),
      });
    }
    return presign(base, method, new URL(base.prefix.pathname + encodeKey(key), base.prefix), {}, headers, expiresInSeconds);
  }

  /** sends a signed request; a failure to reach S3 names the operation and key, never the URL (its query is a signature) */
  private send(operation: string, key: string, url: string, options: Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> = {}) {
    const method = operation === 'LIST' ? 'GET' : operation === 'COPY' ? 'PUT' : operation as Dispatcher.HttpMethod;
    return request(url, { ...options, method, dispatcher: this.dispatcher }).catch((error: unknown) => {
      const { statusCode, code } = error as { statusCode?: number; code?: string };
      if (statusCode) throw new S3ResponseError(operation, key, statusCode, `HTTP${statusCode}`);
      throw new Error(`S3 ${operation} ${key}: ${code ?? (error as Error).message}`, { cause: error });
    });
  }

  private resolvedBase(): Promise<UrlBase | null> {
    this.base ??= this.resolveBase();
    return this.base;
  }

  /**
   * The SDK's URL of a probe key gives the endpoint, bucket style and signing region its rules chose; null when
   * that URL is not of the plain form (another signing algorithm: every URL is then made by the SDK, slower).
   */
  private async resolveBase(): Promise<UrlBase | null> {
    const probe = new URL(await getSignedUrl(
      this.client, new GetObjectCommand({ Bucket: this.bucket, Key: PROBE_KEY }), { expiresIn: URL_EXPIRY_SECONDS },
    ));
    const credential = probe.searchParams.get('X-Amz-Credential')?.split('/');
    if (probe.searchParams.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' || !probe.pathname.endsWith(`/${PROBE_KEY}`) || !credential) {
      return null;
    }
    // <access key>/<date>/<region>/<service>/aws4_request
    const [region, service] = credential.slice(-3, -1);
    const prefix = new URL(probe.pathname.slice(0, -PROBE_KEY.length), probe.origin);
    return {
      prefix,
      presigner: new S3RequestPresigner({ ...this.client.config, region: async () => region!, signingName: service }),
    };
  }
}

type SignedMethod = 'GET' | 'HEAD' | 'PUT' | 'DELETE';

/** the URL of a request signed for `url` with `query`: its signature, credential and expiry go in the query */
async function presign(
  base: UrlBase, method: SignedMethod, url: URL, query: Record<string, string>, headers: Record<string, string>, expiresIn: number,
): Promise<string> {
  const signed = await base.presigner.presign({
    method, protocol: url.protocol, hostname: url.hostname, port: url.port ? Number(url.port) : undefined,
    // a copy: the presigner adds a host header to the object it is given, which must not be sent as it is
    path: url.pathname, query, headers: { ...headers },
  }, { expiresIn, unhoistableHeaders: new Set(Object.keys(headers)) });
  const search = Object.entries(signed.query ?? {}).map(([name, value]) => `${escapeUri(name)}=${escapeUri(String(value))}`);
  return `${url.origin}${url.pathname}?${search.join('&')}`;
}

/** the SDK's command for a request the SDK signs itself (a server whose URLs are not of the plain form) */
function sdkCommand(method: SignedMethod, bucket: string, key: string, headers: Record<string, string>) {
  const object = { Bucket: bucket, Key: key };
  switch (method) {
    case 'GET': return new GetObjectCommand(object);
    case 'HEAD': return new HeadObjectCommand(object);
    case 'DELETE': return new DeleteObjectCommand(object);
    case 'PUT': return new PutObjectCommand({
      ...object, Metadata: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.slice('x-amz-meta-'.length), value])),
    });
  }
}

/** what an object's answer tells of it besides its size (user metadata: x-amz-meta-*, names in lower case) */
function headerFields(headers: Record<string, string | string[] | undefined>, size: number): Omit<ObjectResponse, 'body' | 'status'> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined) metadata[name.slice('x-amz-meta-'.length)] = String(value);
  }
  const modified = header(headers, 'last-modified');
  return { size, etag: header(headers, 'etag') ?? '', modifiedAt: modified ? new Date(modified) : new Date(), metadata };
}

/** S3's error code from a failure's XML body (<Error><Code>NoSuchKey</Code>...); HTTP<status> without one */
async function errorCode(body: Readable, status: number): Promise<string> {
  let text = '';
  try {
    for await (const chunk of body) {
      text += String(chunk);
      if (text.length >= ERROR_BODY_BYTES) break;
    }
  } catch {
    // the code is only for the message
  } finally {
    body.destroy();
  }
  return /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1] ?? `HTTP${status}`;
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** an XML element's text with its entities (&amp;, &quot;, &#38;, &#x26;) decoded */
function xmlText(value: string): string {
  return value.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (entity, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
    return XML_ENTITIES[name] ?? entity;
  });
}

function element(xml: string, name: string): string | undefined {
  const start = xml.indexOf(`<${name}>`);
  if (start < 0) return undefined;
  const end = xml.indexOf(`</${name}>`, start);
  return end < 0 ? undefined : xmlText(xml.slice(start + name.length + 2, end));
}

/** S3's ListBucketResult: the few elements the driver reads (keys, sizes, ETags, times, sub-prefixes, the token) */
export function parseListing(xml: string): ListedPage {
  const commonPrefixes: string[] = [];
  const contents: ListedPage['contents'] = [];
  for (const [, body] of xml.matchAll(/<CommonPrefixes>([\s\S]*?)<\/CommonPrefixes>/g)) {
    const prefix = element(body!, 'Prefix');
    if (prefix) commonPrefixes.push(prefix);
  }
  for (const [, body] of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const key = element(body!, 'Key');
    if (!key) continue;
    const modified = element(body!, 'LastModified');
    contents.push({
      key, size: Number(element(body!, 'Size') ?? 0), etag: element(body!, 'ETag') ?? '',
      modifiedAt: modified ? new Date(modified) : new Date(0),
    });
  }
  // the elements of the result itself, outside Contents and CommonPrefixes
  const tail = xml.replace(/<(Contents|CommonPrefixes)>[\s\S]*?<\/\1>/g, '');
  const token = element(tail, 'NextContinuationToken');
  return { commonPrefixes, contents, ...(element(tail, 'IsTruncated') === 'true' && token ? { nextContinuationToken: token } : {}) };
}
