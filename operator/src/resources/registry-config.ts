// The registry server's config file, as a ConfigMap mounted into the pod. The registry reads it once at start, so
// a change to it rolls the pods; whatever it can reload (users, access rules, certificates) is kept out of it.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { mirrorPrefix, quantityBytes } from '../api/v1alpha1/mirrors.ts';
import type { Registry, RegistryMirror } from '../api/v1alpha1/registry.ts';
import { API_PORT, childMetadata, childNames, OPS_PORT, tlsEnabled } from './names.ts';

export const MOUNTS = {
  config: '/etc/regop/config',
  auth: '/etc/regop/auth',
  tls: '/etc/regop/tls',
  admin: '/etc/regop/admin',
  /** the mirrors' upstream credentials and CAs, one Secret (mirror-secret.ts) */
  mirrors: '/etc/regop/mirrors',
  data: '/var/lib/regop',
  tmp: '/tmp',
};

/** keys of the mirrors Secret, which are the file names under MOUNTS.mirrors */
export function mirrorFileNames(mirror: RegistryMirror) {
  const prefix = mirrorPrefix(mirror.registry);
  return { credentials: `${prefix}.credentials`, ca: `${prefix}.ca.crt` };
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

export function registryConfigText(registry: Registry): string {
  return stringify({
    listen: `0.0.0.0:${API_PORT}`,
    // on a ReadWriteMany volume pods overlap (replicas, rolling updates): each must revalidate what it caches
    storage: { root: MOUNTS.data, shared: registry.spec.storage?.accessMode === 'ReadWriteMany' },
    // anonymousPull lives in the access file (auth-secret.ts), which the registry reloads: here it would need a restart
    auth: { htpasswd: `${MOUNTS.auth}/htpasswd`, access: `${MOUNTS.auth}/access.yaml` },
    ...(tlsEnabled(registry) ? { tls: { cert: `${MOUNTS.tls}/tls.crt`, key: `${MOUNTS.tls}/tls.key` } } : {}),
    admin: { tokenFile: `${MOUNTS.admin}/token` },
    ops: { listen: `0.0.0.0:${OPS_PORT}` },
    ...(registry.spec.mirrors?.length ? { mirrors: registry.spec.mirrors.map(mirrorConfig) } : {}),
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
