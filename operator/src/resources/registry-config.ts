// The registry server's config file, as a ConfigMap mounted into the pod. The registry reads it once at start, so
// a change to it rolls the pods; whatever it can reload (users, access rules, certificates) is kept out of it.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { API_PORT, childMetadata, childNames, OPS_PORT, tlsEnabled } from './names.ts';

export const MOUNTS = {
  config: '/etc/regop/config',
  auth: '/etc/regop/auth',
  tls: '/etc/regop/tls',
  admin: '/etc/regop/admin',
  data: '/var/lib/regop',
  tmp: '/tmp',
};

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
