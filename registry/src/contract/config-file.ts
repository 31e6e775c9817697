// The registry's config file as written: the YAML the operator generates (operator/src/resources/registry-config.ts
// returns a ConfigFile) and the registry parses (config.ts reads each section through these types and refuses a
// key they do not name). A key renamed here fails to compile on both sides; a key added here and not read by the
// parser fails to compile in config.ts (CONFIG_FILE_KEYS must name every key). Every key is documented in the README.
//
// The parser reads a file a person may have written, so it still checks each value's type; these types say what a
// valid file holds. What the parser makes of it (durations in ms, defaults filled in) is RegistryConfig (config.ts).

/** a duration: a string such as 30s, 5m or 24h, or a number of seconds */
export type Duration = string | number;
/** a byte count: a number, or a Kubernetes-style quantity such as 500Mi, 10Gi or 2G (no K, P or Pi) */
export type ByteSize = string | number;
/** HOST:PORT, [IPv6]:PORT or :PORT */
export type ListenAddress = string;

export interface ConfigFile {
  /** the registry API; default 0.0.0.0:5000 (REGISTRY_API_PORT) */
  listen?: ListenAddress;
  storage?: StorageSection;
  auth?: AuthSection;
  tls?: TlsSection;
  /** a plain-HTTP listener for /healthz, /readyz and /metrics; unset: served on `listen` */
  ops?: { listen?: ListenAddress };
  /** the maintenance API (/admin/v1/gc, /admin/v1/retention, /admin/v1/backup), enabled by a bearer token file */
  admin?: { tokenFile?: string; gcGracePeriod?: Duration };
  limits?: LimitsSection;
  log?: { level?: string };
  shutdownTimeout?: Duration;
  mirrors?: MirrorSection[];
  ui?: UiSection;
  audit?: AuditSection;
  notifications?: NotificationsSection;
}

export interface StorageSection {
  /** a directory (the filesystem driver); give it or `s3` */
  root?: string;
  s3?: S3Section;
  uploadPurgeAge?: Duration;
  uploadPurgeInterval?: Duration;
  maxManifestBytes?: number;
  manifestCacheBytes?: number;
  /** other registry processes write this storage too (replicas on one ReadWriteMany volume); implied by `s3` */
  shared?: boolean;
}

/** a bucket: storage.s3, and the s3 of a backup location (`regop-registry backup --to-config`) */
export interface S3Section {
  bucket: string;
  prefix?: string;
  /** http(s)://host[:port]; unset: AWS's endpoint for the region */
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** files holding the access key id and the secret, both or neither */
  accessKeyFile?: string;
  secretKeyFile?: string;
  redirect?: boolean;
}

/** a backup location file (`--to-config`, `--from-config`, the admin API's destination): a directory or a bucket */
export type LocationFile = Pick<StorageSection, 'root' | 's3'>;

export interface AuthSection {
  htpasswd?: string;
  access?: string;
  anonymousPull?: boolean;
  realm?: string;
  maxFailedLogins?: number;
  failedLoginWindow?: Duration;
  lockout?: Duration;
  reloadInterval?: Duration;
  maxConcurrentPasswordChecks?: number;
  maxQueuedPasswordChecks?: number;
  trustedProxies?: string[];
}

export interface TlsSection {
  cert?: string;
  key?: string;
  reloadInterval?: Duration;
}

export interface LimitsSection {
  maxConnections?: number;
  idleTimeout?: Duration;
  maxUploadSessionsPerUser?: number;
}

export interface MirrorSection {
  /** the repository prefix here (config.ts checks it with mirror/names.ts) */
  name: string;
  /** https://host[:port], no path */
  upstream: string;
  credentialsFile?: string;
  caFile?: string;
  tagTTL?: Duration;
  timeout?: Duration;
  maxSize?: ByteSize;
}

export interface UiSection {
  enabled?: boolean;
  title?: string;
}

export interface AuditSection {
  enabled?: boolean;
  file?: string;
}

export interface NotificationsSection {
  source?: string;
  endpoints?: WebhookSection[];
}

export interface WebhookSection {
  name: string;
  url: string;
  headers?: Record<string, string>;
  /** header name → a file holding its value */
  headerFiles?: Record<string, string>;
  caFile?: string;
  /** audit action names (audit/event.ts AUDIT_ACTIONS); unset: all */
  events?: string[];
  timeout?: Duration;
  retries?: number;
  queueSize?: number;
}

/** every key of T, once: a key missing or misspelt here is a compile error */
type EveryKey<T> = { readonly [K in keyof Required<T>]: true };

function keys<T>(every: EveryKey<T>): Array<keyof T & string> {
  return Object.keys(every) as Array<keyof T & string>;
}

/** the keys each section takes, in the order error messages list them */
export const CONFIG_FILE_KEYS = {
  top: keys<ConfigFile>({
    listen: true, storage: true, auth: true, tls: true, ops: true, admin: true, limits: true, log: true,
    shutdownTimeout: true, mirrors: true, ui: true, audit: true, notifications: true,
  }),
  storage: keys<StorageSection>({
    root: true, s3: true, uploadPurgeAge: true, uploadPurgeInterval: true, maxManifestBytes: true, manifestCacheBytes: true, shared: true,
  }),
  s3: keys<S3Section>({
    bucket: true, prefix: true, endpoint: true, region: true, forcePathStyle: true, accessKeyFile: true, secretKeyFile: true, redirect: true,
  }),
  auth: keys<AuthSection>({
    htpasswd: true, access: true, anonymousPull: true, realm: true, maxFailedLogins: true, failedLoginWindow: true, lockout: true,
    reloadInterval: true, maxConcurrentPasswordChecks: true, maxQueuedPasswordChecks: true, trustedProxies: true,
  }),
  tls: keys<TlsSection>({ cert: true, key: true, reloadInterval: true }),
  ops: keys<NonNullable<ConfigFile['ops']>>({ listen: true }),
  admin: keys<NonNullable<ConfigFile['admin']>>({ tokenFile: true, gcGracePeriod: true }),
  limits: keys<LimitsSection>({ maxConnections: true, idleTimeout: true, maxUploadSessionsPerUser: true }),
  log: keys<NonNullable<ConfigFile['log']>>({ level: true }),
  mirror: keys<MirrorSection>({ name: true, upstream: true, credentialsFile: true, caFile: true, tagTTL: true, timeout: true, maxSize: true }),
  ui: keys<UiSection>({ enabled: true, title: true }),
  audit: keys<AuditSection>({ enabled: true, file: true }),
  notifications: keys<NotificationsSection>({ source: true, endpoints: true }),
  endpoint: keys<WebhookSection>({
    name: true, url: true, headers: true, headerFiles: true, caFile: true, events: true, timeout: true, retries: true, queueSize: true,
  }),
} as const;
