// Copies into other namespaces so workloads there can pull: a dockerconfigjson Secret for the pull-only user
// and the CA bundle as a ConfigMap. Owner references cannot cross namespaces, so these carry a source label
// and the Registry's finalizer removes them.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { childNames, commonLabels, registryHost, SOURCE_LABEL, sourceLabel } from './names.ts';

function copyMetadata(registry: Registry, name: string, namespace: string) {
  return { name, namespace, labels: { ...commonLabels(registry), [SOURCE_LABEL]: sourceLabel(registry) } };
}

export function dockerConfigJson(host: string, user: string, password: string): string {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  return JSON.stringify({ auths: { [host]: { username: user, password, auth } } });
}

export function buildPullSecret(registry: Registry, namespace: string, user: string, password: string, hosts: string[] = [registryHost(registry)]): V1Secret {
  const auths: Record<string, unknown> = {};
  for (const host of hosts) auths[host] = JSON.parse(dockerConfigJson(host, user, password)).auths[host];
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: copyMetadata(registry, childNames(registry.metadata.name).pullSecret, namespace),
    type: 'kubernetes.io/dockerconfigjson',
    stringData: { '.dockerconfigjson': JSON.stringify({ auths }) },
  };
}

export function buildCaBundle(registry: Registry, namespace: string, caPem: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: copyMetadata(registry, childNames(registry.metadata.name).caBundle, namespace),
    data: { 'ca.crt': caPem },
  };
}
