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

/**
 * How long one read of the DaemonSet serves every Registry's pass while the agents' reports agree with it (one per
 * node it should run on). Its desiredNumberScheduled changes only as nodes come and go, while every pass of every
 * Registry asks for it: 50 Registries starting at once asked hundreds of times a minute, each a round trip to a busy
 * API server. Reports come from a cache and are current; while their count differs from the DaemonSet's (a node
 * joining or leaving), or there is no DaemonSet, each pass reads it again.
 */
export const DAEMON_SET_READ_TTL_MS = 10_000;

export function nodeAgentView(source: NodeAgentSource, now: () => number = Date.now): () => Promise<NodeAgentView | null> {
  let lastRead: { at: number; daemonSet: Promise<V1DaemonSet | null> } | undefined;
  const readDaemonSet = async (): Promise<V1DaemonSet | null> => {
    try {
      return await source.client.get<V1DaemonSet>({ apiVersion: 'apps/v1', kind: 'DaemonSet', namespace: source.namespace, name: source.name });
    } catch {
      // not installed (nodeAgent.enabled=false leaves the operator without the right to ask)
      return null;
    }
  };
  const read = (): Promise<V1DaemonSet | null> => {
    lastRead = { at: now(), daemonSet: readDaemonSet() };
    return lastRead.daemonSet;
  };
  return async () => {
    const reports = source.reports().map(parseReport).filter((r): r is NodeReport => r !== null);
    // passes that run at once share the one request in flight
    const fresh = lastRead && now() - lastRead.at < DAEMON_SET_READ_TTL_MS;
    let daemonSet = await (fresh ? lastRead!.daemonSet : read());
    if (fresh && (daemonSet?.status?.desiredNumberScheduled ?? -1) !== reports.length) daemonSet = await read();
    if (!daemonSet) return null;
    return { desiredNodes: daemonSet.status?.desiredNumberScheduled ?? 0, reports };
  };
}

/** Registries (`namespace/name`) a report speaks of: the ones to reconcile when it changes */
export function registriesInReport(configMap: V1ConfigMap): string[] {
  return Object.keys(parseReport(configMap)?.registries ?? {});
}
