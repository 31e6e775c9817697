// The Registry's CA certificate as a ConfigMap in its own namespace, for the node agent. A CA certificate is
// public, so the agent (a pod on every node) reads ConfigMaps with this label and never needs Secrets. It is
// published for every TLS mode: without a `ca.crt` key it says "no private CA" (a Secret-mode certificate
// from a public CA), which the agent tells apart from "not published yet".
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { childMetadata } from './names.ts';

export const NODE_CA_LABEL = 'regop.dev/node-ca';

export function nodeCaName(registryName: string): string {
  return `${registryName}-node-ca`;
}

/** the key of a mirror's upstream CA, which nodes trust for the direct fallback to that upstream */
export function upstreamCaKey(prefix: string): string {
  return `upstream-ca.${prefix}`;
}

/** @param upstreamCas by mirror prefix */
export function buildNodeCaConfigMap(registry: Registry, caPem: string | undefined, upstreamCas: Record<string, string> = {}): V1ConfigMap {
  const metadata = childMetadata(registry, nodeCaName(registry.metadata.name));
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { ...metadata, labels: { ...metadata.labels, [NODE_CA_LABEL]: 'true' } },
    data: {
      ...(caPem ? { 'ca.crt': caPem } : {}),
      ...Object.fromEntries(Object.entries(upstreamCas).map(([prefix, pem]) => [upstreamCaKey(prefix), pem])),
    },
  };
}
