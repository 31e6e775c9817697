// The registry server's config file, as a ConfigMap mounted into the pod. The registry reads it once at start, so
// a change to it rolls the pods; whatever it can reload (users, access rules, certificates) is kept out of it.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { mirrorPrefix, quantityBytes } from '../api/v1alpha1/mirrors.ts';
import { webhookHeaderFile, webhooks } from '../api/v1alpha1/notifications.ts';
import type { Registry, RegistryMirror, RegistryS3Storage, RegistryWebhook } from '../api/v1alpha1/registry.ts';
import { sharedStorage } from '../api/v1alpha1/storage.ts';
import { API_PORT, childMetadata, childNames, OPS_PORT, tlsEnabled } from './names.ts';

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

function storageConfig(registry: Registry) {
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
export function s3Config(s3: Omit<RegistryS3Storage, 'redirect'> & { redirect?: boolean }, credentialsDir: string) {
  return {
    bucket: s3.bucket,
    ...(s3.prefix !== undefined ? { prefix: s3.prefix } : {}),
    ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
    ...(s3.region !== undefined ? { region: s3.region } : {}),
    ...(s3.forcePathStyle !== undefined ? { forcePathStyle: s3.forcePathStyle } : {}),
    ...(s3.redirect !== undefined ? { redirect: s3.redirect } : {}),
    accessKeyFile: `${credentialsDir}/${S3_CREDENTIAL_FILES.accessKeyId}`,
    secretKeyFile: `${credentialsDir}/${S3_CREDENTIAL_FILES.secretAccessKey}`,
  };
}

function mirrorConfig(mirror: RegistryMirror) {
  const files = mirrorFileNames(mirror);
  return {
    name: mirrorPrefix(mirror.registry),
    upstream: mirror.upstream.replace(/\/+$/, ''),
    ...(mirror.credentialsSecretRef ? { credentialsFile: `${MOUNTS.mirrors}/${files.credentials}` } : {}),
    ...(mirror.ca ? { caFile: `${MOUNTS.mirrors}/${files.ca}` } : {}),
    tagTTL: mirror.tagTTL ?? '5m',
    // in bytes: the registry reads fewer quantity suffixes than Kubernetes writes (no K, P or Pi)
    ...(mirror.maxSize ? { maxSize: quantityBytes(mirror.maxSize) } : {}),
  };
}

function webhookConfig(endpoint: RegistryWebhook, endpointIndex: number) {
  const headersFrom = endpoint.headersFrom ?? [];
  return {
    name: endpoint.name,
    url: endpoint.url,
    ...(endpoint.headers && Object.keys(endpoint.headers).length > 0 ? { headers: endpoint.headers } : {}),
    ...(headersFrom.length > 0
      ? { headerFiles: Object.fromEntries(headersFrom.map((header, i) => [header.name, `${MOUNTS.notifications}/${webhookHeaderFile(endpointIndex, i)}`])) }
      : {}),
    ...(endpoint.events ? { events: endpoint.events } : {}),
    ...(endpoint.timeout !== undefined ? { timeout: endpoint.timeout } : {}),
    ...(endpoint.retries !== undefined ? { retries: endpoint.retries } : {}),
    ...(endpoint.queueSize !== undefined ? { queueSize: endpoint.queueSize } : {}),
  };
}

export function registryConfigText(registry: Registry): string {
  return stringify({
    listen: `0.0.0.0:${API_PORT}`,
    storage: storageConfig(registry),
    // anonymousPull lives in the access file (auth-secret.ts), which the registry reloads: here it would need a restart
    auth: { htpasswd: `${MOUNTS.auth}/htpasswd`, access: `${MOUNTS.auth}/access.yaml` },
    ...(tlsEnabled(registry) ? { tls: { cert: `${MOUNTS.tls}/tls.crt`, key: `${MOUNTS.tls}/tls.key` } } : {}),
    admin: { tokenFile: `${MOUNTS.admin}/token` },
    ops: { listen: `0.0.0.0:${OPS_PORT}` },
    ...(registry.spec.mirrors?.length ? { mirrors: registry.spec.mirrors.map(mirrorConfig) } : {}),
    // what is unset the registry defaults (enabled, title 'regop')
    ...(registry.spec.ui ? { ui: registry.spec.ui } : {}),
    ...(registry.spec.audit ? { audit: { enabled: registry.spec.audit.enabled !== false } } : {}),
    ...(webhooks(registry).length > 0 ? { notifications: { endpoints: webhooks(registry).map(webhookConfig) } } : {}),
  });
}

export function buildConfigMap(registry: Registry): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMetadata(registry, childNames(registry.metadata.name).config),
    data: { 'registry.yaml': registryConfigText(registry) },
  };
}
