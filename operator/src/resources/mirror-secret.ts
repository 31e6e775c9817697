// The Secrets behind a Registry's mirrors. The registry pod mounts one with each upstream's credentials file
// and CA (file names from registry-config.ts). The node agent gets the nodes' pull-only credentials as a copy
// in its own namespace, the one place it may read Secrets: RBAC could not narrow a cluster-wide Secret read to
// these, and a pod on every node should not be able to read every Secret. Copies cannot be owned across
// namespaces; they carry the source label and the Registry's finalizer removes them.
import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { childNames, commonLabels, NODE_PULLER_USER, SOURCE_LABEL, sourceLabel } from './names.ts';
import { ownedSecret } from './secret.ts';

/** on the node credentials copies: what the agent's informer selects */
export const NODE_PULLER_LABEL = 'regop.dev/node-puller';

export function buildMirrorsSecret(registry: Registry, files: Record<string, string>): V1Secret {
  return ownedSecret(registry, childNames(registry.metadata.name).mirrors, 'Opaque', files);
}

/** the copy's name in the agent's namespace, unique per Registry */
export function nodePullerCopyName(namespace: string, name: string): string {
  return `regop-node-puller.${namespace}.${name}`;
}

export function buildNodePullerCopy(registry: Registry, agentNamespace: string, password: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: nodePullerCopyName(registry.metadata.namespace, registry.metadata.name),
      namespace: agentNamespace,
      labels: { ...commonLabels(registry), [SOURCE_LABEL]: sourceLabel(registry), [NODE_PULLER_LABEL]: 'true' },
    },
    type: 'kubernetes.io/basic-auth',
    stringData: { username: NODE_PULLER_USER, password },
  };
}
