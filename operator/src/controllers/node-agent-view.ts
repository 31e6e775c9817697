// Where the operator reads node access from: the agents' report ConfigMaps (from an informer cache) and the
// agent DaemonSet's desiredNumberScheduled, the number of nodes that should report.
import type { V1ConfigMap, V1DaemonSet } from '@kubernetes/client-node';
import type { ClusterClient } from '../kube/cluster-client.ts';
import { parseReport, type NodeReport } from '../node-agent/report.ts';
import type { NodeAgentView } from './node-access.ts';

export interface NodeAgentSource {
  client: ClusterClient;
  /** the agent's DaemonSet */
  namespace: string;
  name: string;
  reports(): readonly V1ConfigMap[];
}

export function nodeAgentView(source: NodeAgentSource): () => Promise<NodeAgentView | null> {
  return async () => {
    let daemonSet: V1DaemonSet | null;
    try {
      daemonSet = await source.client.get<V1DaemonSet>({ apiVersion: 'apps/v1', kind: 'DaemonSet', namespace: source.namespace, name: source.name });
    } catch {
      // not installed (nodeAgent.enabled=false leaves the operator without the right to ask)
      return null;
    }
    if (!daemonSet) return null;
    const reports = source.reports().map(parseReport).filter((r): r is NodeReport => r !== null);
    return { desiredNodes: daemonSet.status?.desiredNumberScheduled ?? 0, reports };
  };
}

/** Registries (`namespace/name`) a report speaks of: the ones to reconcile when it changes */
export function registriesInReport(configMap: V1ConfigMap): string[] {
  return Object.keys(parseReport(configMap)?.registries ?? {});
}
