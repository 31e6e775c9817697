// The registry server's config file, as a ConfigMap mounted into the pod. The registry reads it once at start, so
// a change to it rolls the pods; whatever it can reload (users, access rules, certificates) is kept out of it.
// Its shape is the registry's contract (registry/src/contract/config-file.ts): a key renamed there fails to
// compile here, and registry-config.test.ts runs what this writes through the registry's own parser.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { mirrorPrefix, quantityBytes } from '../api/v1alpha1/mirrors.ts';
import { webhookHeaderFile, webhooks } from '../api/v1alpha1/notifications.ts';
import type { Registry, RegistryMirror, RegistryS3Storage, RegistryWebhook } from '../api/v1alpha1/registry.ts';
import { sharedStorage } from '../api/v1alpha1/storage.ts';
import { API_PORT, childMetadata, childNames, OPS_PORT, tlsEnabled } from './names.ts';
import type {
  ConfigFile, MirrorSection, S3Section, StorageSection, WebhookSection,
} from '../../../registry/src/contract/index.ts';

export const MOUNTS = {
  config: '/etc/regop/config',
  auth: '/etc/regop/auth',
  tls: '/etc/regop/tls',
  admin: '/etc/regop/admin',
  /** the mirrors' upstream credentials and CAs, one Secret (mirror-secret.ts) */
  mirrors: '/etc/regop/mirrors',
  /** the S3 credentials, two keys of the user's Secret (S3_CREDENTIAL_FILES) */
  s3: '/etc/regop/s3',
  /** the webhooks' header values taken from Secrets (notifications.ts names the files) */
  notifications: '/etc/regop/notifications',
  data: '/var/lib/regop',
  tmp: '/tmp',
};

/** keys of the mirrors Secret, which are the file names under MOUNTS.mirrors */
export function mirrorFileNames(mirror: RegistryMirror) {
  const prefix = mirrorPrefix(mirror.registry);
  return { credentials: `${prefix}.credentials`, ca: `${prefix}.ca.crt` };
}

/** the file names under MOUNTS.s3 */
export const S3_CREDENTIAL_FILES = { accessKeyId: 'access-key-id', secretAccessKey: 'secret-access-key' } as const;

function storageConfig(registry: Registry): StorageSection {
  const s3 = registry.spec.storage?.s3;
  // on a ReadWriteMany volume pods overlap (replicas, rolling updates): each must revalidate what it caches
  if (!s3) return { root: MOUNTS.data, shared: sharedStorage(registry.spec) };
  // a bucket implies shared storage
  return { s3: s3Config(s3, MOUNTS.s3) };
}

/**
 * A bucket as the registry reads it (storage.s3, a backup destination), its credentials as the files of the
 * user's Secret mounted at credentialsDir; what is unset here the registry defaults (region, forcePathStyle,
 * redirect).
 */
export function s3Config(s3: Omit<RegistryS3Storage, 'redirect'> & { redirect?: boolean }, credentialsDir: string): S3Section {
  return {
    bucket: s3.bucket,
    prefix: s3.prefix,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    redirect: s3.redirect,
    accessKeyFile: `${credentialsDir}/${S3_CREDENTIAL_FILES.accessKeyId}`,
    secretKeyFile: `${credentialsDir}/${S3_CREDENTIAL_FILES.secretAccessKey}`,
  };
}

function mirrorConfig(mirror: RegistryMirror): MirrorSection {
  const files = mirrorFileNames(mirror);
  return {
    name: mirrorPrefix(mirror.registry),
    upstream: mirror.upstream.replace(/\/+$/, ''),
    credentialsFile: mirror.credentialsSecretRef ? `${MOUNTS.mirrors}/${files.credentials}` : undefined,
    caFile: mirror.ca ? `${MOUNTS.mirrors}/${files.ca}` : undefined,
    tagTTL: mirror.tagTTL ?? '5m',
    // in bytes: the registry reads fewer quantity suffixes than Kubernetes writes (no K, P or Pi)
    maxSize: mirror.maxSize ? quantityBytes(mirror.maxSize) : undefined,
  };
}

function webhookConfig(endpoint: RegistryWebhook, endpointIndex: number): WebhookSection {
  const headersFrom = endpoint.headersFrom ?? [];
  return {
    name: endpoint.name,
    url: endpoint.url,
    headers: endpoint.headers && Object.keys(endpoint.headers).length > 0 ? endpoint.headers : undefined,
    headerFiles: headersFrom.length > 0
      ? Object.fromEntries(headersFrom.map((header, i) => [header.name, `${MOUNTS.notifications}/${webhookHeaderFile(endpointIndex, i)}`]))
      : undefined,
    events: endpoint.events,
    timeout: endpoint.timeout,
    retries: endpoint.retries,
    queueSize: endpoint.queueSize,
  };
}

/**
 * The registry's config file for this Registry, as the registry's contract types it. Keys are written out, absent
 * ones as undefined (which YAML and JSON leave out), never spread in: a key the contract does not name is then a
 * compile error here.
 */
export function registryConfigFile(registry: Registry): ConfigFile {
  const { spec } = registry;
  const endpoints = webhooks(registry);
  return {
    listen: `0.0.0.0:${API_PORT}`,
    storage: storageConfig(registry),
    // anonymousPull lives in the access file (auth-secret.ts), which the registry reloads: here it would need a restart
    auth: { htpasswd: `${MOUNTS.auth}/htpasswd`, access: `${MOUNTS.auth}/access.yaml` },
    tls: tlsEnabled(registry) ? { cert: `${MOUNTS.tls}/tls.crt`, key: `${MOUNTS.tls}/tls.key` } : undefined,
    admin: { tokenFile: `${MOUNTS.admin}/token` },
    ops: { listen: `0.0.0.0:${OPS_PORT}` },
    mirrors: spec.mirrors?.length ? spec.mirrors.map(mirrorConfig) : undefined,
    // what is unset the registry defaults (enabled, title 'regop')
    ui: spec.ui ? { enabled: spec.ui.enabled, title: spec.ui.title } : undefined,
    audit: spec.audit ? { enabled: spec.audit.enabled !== false } : undefined,
    notifications: endpoints.length > 0 ? { endpoints: endpoints.map(webhookConfig) } : undefined,
  };
}

/** the file as the ConfigMap holds it, and as the registry reads it at start */
export function registryConfigText(registry: Registry): string {
  return stringify(registryConfigFile(registry));
}

export function buildConfigMap(registry: Registry): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMetadata(registry, childNames(registry.metadata.name).config),
    data: { 'registry.yaml': registryConfigText(registry) },
  };
}
