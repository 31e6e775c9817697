// The registry's configuration: a YAML file (every key documented in the README) with command-line overrides.
// Unknown keys are errors, so a typo never silently turns auth or TLS off.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import ms from 'ms';
import { parse as parseYaml } from 'yaml';
import { invalidMirrorName } from './mirror/names.ts';
import { AUDIT_ACTIONS, isAuditAction, type AuditAction } from './audit/event.ts';
import { CONFIG_FILE_KEYS, type ConfigFile, type MirrorSection, type S3Section, type WebhookSection } from './contract/config-file.ts';
import { REGISTRY_API_PORT } from './contract/image.ts';

export interface RegistryConfig {
  /** HOST:PORT of the registry API */
  listen: string;
  storage: {
    /** a directory (the filesystem driver); unset when `s3` is */
    root?: string;
    /** an S3-compatible bucket instead of a directory: replicas then share it, stateless */
    s3?: S3StorageConfig;
    /** upload sessions idle for longer are deleted */
    uploadPurgeAgeMs: number;
    uploadPurgeIntervalMs: number;
    maxManifestBytes: number;
    manifestCacheBytes: number;
    /**
     * other registry processes write this storage too (replicas on one volume, or on one bucket): cached
     * metadata is revalidated and upload and GC state is kept in storage. Always true with `s3`.
     */
    shared: boolean;
  };
  auth: {
    htpasswd?: string;
    access?: string;
    anonymousPull: boolean;
    realm: string;
    maxFailedLogins: number;
    failedLoginWindowMs: number;
    lockoutMs: number;
    reloadIntervalMs: number;
    /** bcrypt checks at once (off the event loop); more wait in a queue of maxQueuedPasswordChecks, then 429 */
    maxConcurrentPasswordChecks: number;
    maxQueuedPasswordChecks: number;
    /** addresses or CIDRs of proxies whose X-Forwarded-For names the client; empty: the peer is the client */
    trustedProxies: string[];
  };
  tls?: { cert: string; key: string; reloadIntervalMs: number };
  /** the maintenance API (/admin/v1/gc, /admin/v1/retention), enabled by a bearer token file */
  admin: { tokenFile?: string; gcGracePeriodMs: number };
  /** HOST:PORT of a plain-HTTP listener for /healthz, /readyz and /metrics; unset: served on `listen` */
  ops: { listen?: string };
  /** what one client can hold on to: connections, a stalled request body, open upload sessions */
  limits: {
    /** connections the API listener accepts at once; beyond it new ones are closed on accept (0: no cap) */
    maxConnections: number;
    /** a request body, or a blob being sent, that moves no bytes for this long is cut with its connection (0: never) */
    idleTimeoutMs: number;
    /** upload sessions one user (or, on an open registry, one client address) may have open */
    maxUploadSessionsPerUser: number;
  };
  log: { level: string };
  shutdownTimeoutMs: number;
  /** pull-through mirrors: repositories under `name/` are fetched on demand from `upstream` and cached */
  mirrors: MirrorConfig[];
  /** the web UI under /ui/ on the API listener */
  ui: UiConfig;
  /** the audit trail: one JSON line per push, tag change, delete, mount, failed login, lockout and admin run */
  audit: AuditConfig;
  /** webhooks that receive the audit events as CloudEvents */
  notifications: NotificationsConfig;
}

export interface AuditConfig {
  /** false: no audit lines (webhooks still get their events) */
  enabled: boolean;
  /** a file the lines are appended to; unset: stdout, beside the other logs, marked "logger":"audit" */
  file?: string;
}

export interface NotificationsConfig {
  /** the CloudEvents `source` of every event; unset: /regop-registry/<host name> */
  source?: string;
  endpoints: WebhookEndpointConfig[];
}

export interface WebhookEndpointConfig {
  /** names the endpoint in metrics and logs (the URL may hold a token, so it is never logged) */
  name: string;
  /** http(s) URL the events are POSTed to */
  url: string;
  /** header name → value */
  headers: Record<string, string>;
  /** header name → file holding the value (a mounted Secret), read at each delivery */
  headerFiles: Record<string, string>;
  /** PEM file of an extra CA to trust for an https URL */
  caFile?: string;
  /** the actions sent; null: all */
  events: AuditAction[] | null;
  /** one attempt, from connecting to the end of the response */
  timeoutMs: number;
  /** attempts after the first, with exponential backoff (1 s, 2 s, 4 s, … up to 30 s) */
  retries: number;
  /** events waiting at most; more are dropped and counted */
  queueSize: number;
}

export interface UiConfig {
  /** false: /ui/ answers 404 like any unknown path */
  enabled: boolean;
  /** shown in the page header and the browser tab */
  title: string;
}

export interface S3StorageConfig {
  bucket: string;
  /** key prefix inside the bucket, without leading or trailing slash; '' for the whole bucket */
  prefix: string;
  /** http(s)://host[:port] of an S3-compatible server; unset: AWS's endpoint for the region */
  endpoint?: string;
  region: string;
  /** bucket in the path (http://host/bucket/key) rather than in the host name; most S3-compatible servers want it */
  forcePathStyle: boolean;
  /** files holding the access key id and secret; both unset: the AWS SDK's default chain (environment, profile, role) */
  accessKeyFile?: string;
  secretKeyFile?: string;
  /** blob GETs answer 307 to a presigned URL of the object, so bytes flow from S3 to the client directly */
  redirect: boolean;
}

export interface MirrorConfig {
  /** the repository prefix here, e.g. docker.io (docker.io/library/busybox) */
  name: string;
  /** https://host[:port] of the upstream registry */
  upstream: string;
  /** a YAML or JSON file with {username, password} for the upstream; anonymous without */
  credentialsFile?: string;
  /** PEM file of an extra CA to trust for the upstream */
  caFile?: string;
  /** a tag is revalidated with one upstream HEAD at most this often; digests never are */
  tagTtlMs: number;
  /** connecting to the upstream and waiting for its response headers, or for the next body byte */
  timeoutMs: number;
  /** cached bytes above which the least recently pulled images are evicted; unset: no limit */
  maxSizeBytes?: number;
}

export interface ConfigOverrides {
  listen?: string;
  storage?: string;
  htpasswd?: string;
  access?: string;
  tlsCert?: string;
  tlsKey?: string;
  opsListen?: string;
  adminTokenFile?: string;
  logLevel?: string;
  anonymousPull?: boolean;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * A section of the file as read, before its values are checked: only the keys the contract names (config-file.ts),
 * so each read below names a key of the contract, and a key renamed there fails to compile here.
 */
type Fields<T> = { readonly [K in keyof T]?: unknown };

/** `value` as a mapping holding none but the `allowed` keys */
function mapping<T>(value: unknown, where: string, allowed: ReadonlyArray<keyof T & string>): Fields<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${where} must be a mapping`);
  for (const name of Object.keys(value)) {
    if (!(allowed as readonly string[]).includes(name)) throw new ConfigError(`unknown key ${where}.${name} (allowed: ${allowed.join(', ')})`);
  }
  return value as Fields<T>;
}

/** the mapping under `key` of `parent` (absent: empty) */
function section<P, K extends keyof P & string>(
  parent: Fields<P>, key: K, allowed: ReadonlyArray<keyof NonNullable<P[K]> & string>, where: string = key,
): Fields<NonNullable<P[K]>> {
  return mapping<NonNullable<P[K]>>(parent[key] ?? {}, where, allowed);
}

function optionalString<T>(raw: Fields<T>, key: keyof T & string, where: string): string | undefined {
  const value = raw[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new ConfigError(`${where}.${key} must be a string`);
  return value;
}

function duration<T>(raw: Fields<T>, key: keyof T & string, where: string, fallback: string): number {
  const value = raw[key] ?? fallback;
  const parsed = typeof value === 'number' ? value * 1000 : typeof value === 'string' ? ms(value as ms.StringValue) : NaN;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
    throw new ConfigError(`${where}.${key} must be a duration such as 30s, 5m or 24h (got ${JSON.stringify(value)})`);
  }
  return parsed;
}

function count<T>(raw: Fields<T>, key: keyof T & string, where: string, fallback: number): number {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigError(`${where}.${key} must be a non-negative integer`);
  }
  return value;
}

function boolean<T>(raw: Fields<T>, key: keyof T & string, where: string, fallback: boolean): boolean {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'boolean') throw new ConfigError(`${where}.${key} must be true or false`);
  return value;
}

// proxy-addr's names for the loopback, link-local and private ranges are accepted too
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function proxyList<T>(raw: Fields<T>, key: keyof T & string, where: string): string[] {
  const value = raw[key] ?? [];
  if (!Array.isArray(value)) throw new ConfigError(`${where}.${key} must be a list of addresses or CIDRs`);
  return value.map((entry: unknown) => {
    const [address, prefix, ...rest] = typeof entry === 'string' ? entry.split('/') : [];
    const family = address ? isIP(address) : 0;
    const validPrefix = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    const named = typeof entry === 'string' && PROXY_RANGE_NAMES.includes(entry);
    if (!named && (family === 0 || !validPrefix || rest.length > 0)) {
      throw new ConfigError(`${where}.${key} entries must be IP addresses or CIDRs such as 10.0.0.0/8 (got ${JSON.stringify(entry)})`);
    }
    return entry as string;
  });
}

export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`listen address must be HOST:PORT (got ${JSON.stringify(value)})`);
  }
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

/**
 * Checks a config file's content (parsed YAML, or a ConfigFile the operator built) and fills in the defaults.
 * Throws ConfigError naming the key at fault.
 */
export function buildConfig(file: ConfigFile | Record<string, unknown>, overrides: ConfigOverrides = {}): RegistryConfig {
  const keys = CONFIG_FILE_KEYS;
  const raw = file as Fields<ConfigFile>;
  for (const name of Object.keys(raw)) {
    if (!(keys.top as readonly string[]).includes(name)) throw new ConfigError(`unknown key ${name} (allowed: ${keys.top.join(', ')})`);
  }
  const storage = section(raw, 'storage', keys.storage);
  const auth = section(raw, 'auth', keys.auth);
  const tls = section(raw, 'tls', keys.tls);
  const ops = section(raw, 'ops', keys.ops);
  const admin = section(raw, 'admin', keys.admin);
  const adminTokenFile = overrides.adminTokenFile ?? optionalString(admin, 'tokenFile', 'admin');
  const log = section(raw, 'log', keys.log);
  const limits = section(raw, 'limits', keys.limits);
  const ui = section(raw, 'ui', keys.ui);

  const root = overrides.storage ?? optionalString(storage, 'root', 'storage');
  const s3 = storage.s3 === undefined || storage.s3 === null ? undefined : s3Storage(section(storage, 's3', keys.s3));
  if (!root && !s3) throw new ConfigError('storage.root (or --storage) or storage.s3 is required');
  if (root && s3) throw new ConfigError('give storage.root (--storage) or storage.s3, not both');
  const cert = overrides.tlsCert ?? optionalString(tls, 'cert', 'tls');
  const key = overrides.tlsKey ?? optionalString(tls, 'key', 'tls');
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError('tls.cert and tls.key must be given together');
  const listen = overrides.listen ?? optionalString(raw, 'listen', 'config') ?? `0.0.0.0:${REGISTRY_API_PORT}`;
  parseListen(listen);
  const opsListen = overrides.opsListen ?? optionalString(ops, 'listen', 'ops');
  if (opsListen) parseListen(opsListen);
  const htpasswd = overrides.htpasswd ?? optionalString(auth, 'htpasswd', 'auth');
  const access = overrides.access ?? optionalString(auth, 'access', 'auth');
  if (access && !htpasswd) throw new ConfigError('auth.access needs auth.htpasswd: access rules name htpasswd users');

  return {
    listen,
    storage: {
      ...(root ? { root } : {}),
      ...(s3 ? { s3 } : {}),
      uploadPurgeAgeMs: duration(storage, 'uploadPurgeAge', 'storage', '24h'),
      uploadPurgeIntervalMs: duration(storage, 'uploadPurgeInterval', 'storage', '1h'),
      maxManifestBytes: count(storage, 'maxManifestBytes', 'storage', 4 * 1024 * 1024),
      manifestCacheBytes: count(storage, 'manifestCacheBytes', 'storage', 64 * 1024 * 1024),
      shared: s3 !== undefined || boolean(storage, 'shared', 'storage', false),
    },
    auth: {
      ...(htpasswd ? { htpasswd } : {}),
      ...(access ? { access } : {}),
      anonymousPull: overrides.anonymousPull ?? boolean(auth, 'anonymousPull', 'auth', false),
      realm: optionalString(auth, 'realm', 'auth') ?? 'regop',
      maxFailedLogins: count(auth, 'maxFailedLogins', 'auth', 10),
      failedLoginWindowMs: duration(auth, 'failedLoginWindow', 'auth', '1m'),
      lockoutMs: duration(auth, 'lockout', 'auth', '1m'),
      reloadIntervalMs: duration(auth, 'reloadInterval', 'auth', '2s'),
      maxConcurrentPasswordChecks: Math.max(1, count(auth, 'maxConcurrentPasswordChecks', 'auth', 2)),
      maxQueuedPasswordChecks: count(auth, 'maxQueuedPasswordChecks', 'auth', 100),
      trustedProxies: proxyList(auth, 'trustedProxies', 'auth'),
    },
    ...(cert && key ? { tls: { cert, key, reloadIntervalMs: duration(tls, 'reloadInterval', 'tls', '10s') } } : {}),
    admin: {
      ...(adminTokenFile ? { tokenFile: adminTokenFile } : {}),
      gcGracePeriodMs: duration(admin, 'gcGracePeriod', 'admin', '1h'),
    },
    ops: opsListen ? { listen: opsListen } : {},
    limits: {
      maxConnections: count(limits, 'maxConnections', 'limits', 1000),
      idleTimeoutMs: duration(limits, 'idleTimeout', 'limits', '60s'),
      maxUploadSessionsPerUser: count(limits, 'maxUploadSessionsPerUser', 'limits', 100),
    },
    log: { level: overrides.logLevel ?? optionalString(log, 'level', 'log') ?? 'info' },
    shutdownTimeoutMs: duration(raw, 'shutdownTimeout', 'config', '30s'),
    mirrors: mirrorList(raw),
    ui: { enabled: boolean(ui, 'enabled', 'ui', true), title: uiTitle(ui) },
    audit: auditConfig(section(raw, 'audit', keys.audit)),
    notifications: notificationsConfig(section(raw, 'notifications', keys.notifications)),
  };
}

function auditConfig(audit: Fields<NonNullable<ConfigFile['audit']>>): AuditConfig {
  const file = optionalString(audit, 'file', 'audit');
  return { enabled: boolean(audit, 'enabled', 'audit', true), ...(file ? { file } : {}) };
}

/** an HTTP header name (RFC 9110 token) */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** headers the registry sets itself on every delivery */
const RESERVED_HEADERS = ['content-type', 'content-length', 'host', 'transfer-encoding', 'connection'];

function notificationsConfig(notifications: Fields<NonNullable<ConfigFile['notifications']>>): NotificationsConfig {
  const source = optionalString(notifications, 'source', 'notifications');
  const value = notifications.endpoints ?? [];
  if (!Array.isArray(value)) throw new ConfigError('notifications.endpoints must be a list');
  const endpoints = value.map((entry: unknown, i) => webhookEndpoint(entry, `notifications.endpoints[${i}]`));
  const names = endpoints.map((endpoint) => endpoint.name);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) throw new ConfigError(`notifications.endpoints: the name ${repeated} is used twice; each endpoint needs its own`);
  return { ...(source ? { source } : {}), endpoints };
}

function webhookEndpoint(entry: unknown, where: string): WebhookEndpointConfig {
  const endpoint = mapping<WebhookSection>(entry, where, CONFIG_FILE_KEYS.endpoint);
  const name = optionalString(endpoint, 'name', where);
  if (!name || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    throw new ConfigError(`${where}.name is required: 1-63 letters, digits, dots, hyphens and underscores (got ${JSON.stringify(endpoint.name)})`);
  }
  const headers = headerMap(endpoint, 'headers', where);
  const headerFiles = headerMap(endpoint, 'headerFiles', where);
  const both = Object.keys(headers).find((header) => Object.keys(headerFiles).some((other) => other.toLowerCase() === header.toLowerCase()));
  if (both) throw new ConfigError(`${where}: header ${both} is in both headers and headerFiles; give it once`);
  const caFile = optionalString(endpoint, 'caFile', where);
  return {
    name,
    url: webhookUrl(optionalString(endpoint, 'url', where), `${where}.url`),
    headers,
    headerFiles,
    ...(caFile ? { caFile } : {}),
    events: eventList(endpoint.events, `${where}.events`),
    timeoutMs: positive(duration(endpoint, 'timeout', where, '5s'), `${where}.timeout`, 'a duration above zero such as 5s'),
    retries: count(endpoint, 'retries', where, 3),
    queueSize: positive(count(endpoint, 'queueSize', where, 1000), `${where}.queueSize`, 'a positive integer'),
  };
}

function positive(value: number, where: string, what: string): number {
  if (value <= 0) throw new ConfigError(`${where} must be ${what} (got ${value})`);
  return value;
}

/** http(s)://…; credentials belong in headers (a URL is shown in too many places) */
function webhookUrl(value: string | undefined, where: string): string {
  if (!value) throw new ConfigError(`${where} is required (e.g. https://hooks.example.com/regop)`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${where} must be an http:// or https:// URL (got a value that is not a URL)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${where} must be an http:// or https:// URL (got ${url.protocol})`);
  if (url.username || url.password) throw new ConfigError(`${where} must not hold credentials: put them in headerFiles (e.g. Authorization)`);
  return url.href;
}

function headerMap(endpoint: Fields<WebhookSection>, key: 'headers' | 'headerFiles', where: string): Record<string, string> {
  const value = endpoint[key] ?? {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${where}.${key} must be a mapping of header names to ${key === 'headers' ? 'values' : 'files'}`);
  const headers: Record<string, string> = {};
  for (const [name, headerValue] of Object.entries(value)) {
    if (!HEADER_NAME.test(name)) throw new ConfigError(`${where}.${key}: ${JSON.stringify(name)} is not a header name`);
    if (RESERVED_HEADERS.includes(name.toLowerCase())) throw new ConfigError(`${where}.${key}: ${name} is set by the registry`);
    // values are never quoted back: they may be secrets
    if (typeof headerValue !== 'string' || headerValue === '' || /[\r\n\0]/.test(headerValue)) {
      throw new ConfigError(`${where}.${key}.${name} must be ${key === 'headers' ? 'a one-line string' : 'a file path'}`);
    }
    headers[name] = headerValue;
  }
  return headers;
}

function eventList(value: unknown, where: string): AuditAction[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError(`${where} must be a non-empty list of event names (or left out for all)`);
  for (const name of value) {
    if (!isAuditAction(name)) throw new ConfigError(`${where}: unknown event ${JSON.stringify(name)} (known: ${AUDIT_ACTIONS.join(', ')})`);
  }
  return [...new Set(value as AuditAction[])];
}

/** A title is one short line of text: it is rendered escaped, but a page header has room for little. */
const MAX_UI_TITLE_LENGTH = 80;

function uiTitle(ui: Fields<NonNullable<ConfigFile['ui']>>): string {
  const value = ui.title ?? 'regop';
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_UI_TITLE_LENGTH || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ConfigError(`ui.title must be one line of text of 1-${MAX_UI_TITLE_LENGTH} characters (got ${JSON.stringify(value)})`);
  }
  return value.trim();
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
};

/** A byte count: a number, or a Kubernetes-style quantity such as 500Mi, 10Gi or 2G. */
function byteSize<T>(raw: Fields<T>, key: keyof T & string, where: string): number | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(value.trim()) : null;
  const bytes = typeof value === 'number' ? value : match ? Math.floor(Number(match[1]) * SIZE_UNITS[match[2] ?? '']!) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new ConfigError(`${where}.${key} must be a size in bytes or such as 500Mi, 10Gi, 2G (got ${JSON.stringify(value)})`);
  }
  return bytes;
}

function s3Storage(s3: Fields<S3Section>): S3StorageConfig {
  const where = 'storage.s3';
  const bucket = optionalString(s3, 'bucket', where);
  // S3's bucket naming rules, which every S3-compatible server accepts
  if (!bucket || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ConfigError(`${where}.bucket must be a bucket name: 3-63 lowercase letters, digits, dots and hyphens (got ${JSON.stringify(s3.bucket)})`);
  }
  const prefix = (optionalString(s3, 'prefix', where) ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((part) => part === '.' || part === '..') || /\/\//.test(prefix)) {
    throw new ConfigError(`${where}.prefix must be a key prefix such as registries/team-a (got ${JSON.stringify(s3.prefix)})`);
  }
  const endpointValue = optionalString(s3, 'endpoint', where);
  let endpoint: string | undefined;
  if (endpointValue) {
    let url: URL;
    try {
      url = new URL(endpointValue);
    } catch {
      throw new ConfigError(`${where}.endpoint must be a URL such as https://s3.example.com (got ${JSON.stringify(endpointValue)})`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${where}.endpoint must be an http(s):// URL`);
    if (url.username || url.password) throw new ConfigError(`${where}.endpoint must not hold credentials: use accessKeyFile and secretKeyFile`);
    endpoint = url.origin;
  }
  const accessKeyFile = optionalString(s3, 'accessKeyFile', where);
  const secretKeyFile = optionalString(s3, 'secretKeyFile', where);
  if ((accessKeyFile === undefined) !== (secretKeyFile === undefined)) {
    throw new ConfigError(`${where}.accessKeyFile and ${where}.secretKeyFile must be given together`);
  }
  return {
    bucket,
    prefix,
    ...(endpoint ? { endpoint } : {}),
    region: optionalString(s3, 'region', where) ?? 'us-east-1',
    // a custom endpoint is almost always an S3-compatible server addressed by path
    forcePathStyle: boolean(s3, 'forcePathStyle', where, endpoint !== undefined),
    ...(accessKeyFile ? { accessKeyFile } : {}),
    ...(secretKeyFile ? { secretKeyFile } : {}),
    redirect: boolean(s3, 'redirect', where, false),
  };
}

function mirrorList(raw: Fields<ConfigFile>): MirrorConfig[] {
  const value = raw.mirrors ?? [];
  if (!Array.isArray(value)) throw new ConfigError('mirrors must be a list of {name, upstream, ...}');
  const mirrors = value.map((entry: unknown, index): MirrorConfig => {
    const where = `mirrors[${index}]`;
    const mirror = mapping<MirrorSection>(entry, where, CONFIG_FILE_KEYS.mirror);
    const name = optionalString(mirror, 'name', where);
    if (!name) throw new ConfigError(`${where}.name is required`);
    const nameProblem = invalidMirrorName(name);
    if (nameProblem) throw new ConfigError(`${where}.name ${nameProblem} (got ${JSON.stringify(name)})`);
    const upstream = upstreamUrl(optionalString(mirror, 'upstream', where), `${where}.upstream`);
    const credentialsFile = optionalString(mirror, 'credentialsFile', where);
    const caFile = optionalString(mirror, 'caFile', where);
    const maxSizeBytes = byteSize(mirror, 'maxSize', where);
    return {
      name,
      upstream,
      ...(credentialsFile ? { credentialsFile } : {}),
      ...(caFile ? { caFile } : {}),
      tagTtlMs: duration(mirror, 'tagTTL', where, '5m'),
      timeoutMs: duration(mirror, 'timeout', where, '30s'),
      ...(maxSizeBytes !== undefined ? { maxSizeBytes } : {}),
    };
  });
  // a repository must belong to one mirror at most: no prefix may contain another
  for (const a of mirrors) {
    for (const b of mirrors) {
      if (a !== b && (a.name === b.name || b.name.startsWith(`${a.name}/`))) {
        throw new ConfigError(`mirrors ${a.name} and ${b.name} overlap: one repository prefix may not contain another`);
      }
    }
  }
  return mirrors;
}

/** https://host[:port] (or http:// for a test upstream); no path, query or credentials in it */
function upstreamUrl(value: string | undefined, where: string): string {
  if (!value) throw new ConfigError(`${where} is required (e.g. https://registry-1.docker.io)`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${where} must be a URL such as https://registry-1.docker.io (got ${JSON.stringify(value)})`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${where} must be an https:// URL`);
  if (url.username || url.password) throw new ConfigError(`${where} must not hold credentials: use credentialsFile`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new ConfigError(`${where} must be https://host[:port] without a path`);
  }
  return url.origin;
}

export function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}): RegistryConfig {
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
    }
    const parsed = parseYaml(text) as unknown;
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`${file} must hold a YAML mapping`);
      raw = parsed as Record<string, unknown>;
    }
  }
  return buildConfig(raw, overrides);
}
