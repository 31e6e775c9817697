// What each node's agent tells the operator: one ConfigMap per node in the agent's namespace, owned by the
// agent's pod (so a node that leaves takes its report with it). The operator aggregates them into a
// Registry's `status.nodesConfigured` and its NodeAccess condition. Shared by both sides: the one shape.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { MANAGED_BY_LABELS } from '../resources/names.ts';

export const NODE_REPORT_LABEL = 'regop.dev/node-access-report';
export const NODE_LABEL = 'regop.dev/node';
export const REPORT_KEY = 'report.json';

export interface Verdict {
  ok: boolean;
  reason?: string;
  message?: string;
}

export interface MirrorOnNode {
  /** containerd pulls the mirrored host through this registry first */
  configured: boolean;
  reason: string;
  message: string;
}

export interface RegistryOnNode {
  /** the node's containerd pulls this Registry's host through the files the agent wrote */
  configured: boolean;
  reason: string;
  message: string;
  host?: string;
  server?: string;
  /** by mirrored host */
  mirrors?: Record<string, MirrorOnNode>;
}

export interface NodeReport {
  node: string;
  /** does containerd read the directory the agent writes (config_path) */
  runtime: Verdict;
  /** can the agent write that directory */
  directory: Verdict;
  /** by `namespace/name` */
  registries: Record<string, RegistryOnNode>;
}

/** a ConfigMap name for a node name (up to 253 characters already): hashed when the prefix would overflow */
export function reportName(node: string): string {
  const name = `regop-node-agent.${node}`;
  return name.length <= 253 ? name : `regop-node-agent.${createHash('sha256').update(node).digest('hex').slice(0, 32)}`;
}

export function buildReportConfigMap(namespace: string, report: NodeReport, pod?: { name: string; uid: string }): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: reportName(report.node),
      namespace,
      labels: { [NODE_REPORT_LABEL]: 'true', ...MANAGED_BY_LABELS, 'app.kubernetes.io/name': 'regop-node-agent' },
      annotations: { [NODE_LABEL]: report.node },
      ...(pod?.uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid }] } : {}),
    },
    data: { [REPORT_KEY]: JSON.stringify(report) },
  };
}

function verdictOf(value: unknown): Verdict {
  const v = value as Partial<Verdict> | undefined;
  return {
    ok: v?.ok === true,
    ...(typeof v?.reason === 'string' ? { reason: v.reason } : {}),
    ...(typeof v?.message === 'string' ? { message: v.message } : {}),
  };
}

function mirrorsOf(raw: object): Record<string, MirrorOnNode> {
  return Object.fromEntries(Object.entries(raw).map(([host, value]) => {
    const mirror = value as Partial<MirrorOnNode> | undefined;
    return [host, {
      configured: mirror?.configured === true,
      reason: typeof mirror?.reason === 'string' ? mirror.reason : 'Unknown',
      message: typeof mirror?.message === 'string' ? mirror.message : '',
    }];
  }));
}

/** a report read back; null for anything that is not one (an agent of another version, a hand edit) */
export function parseReport(configMap: V1ConfigMap): NodeReport | null {
  try {
    const raw = JSON.parse(configMap.data?.[REPORT_KEY] ?? '') as Partial<NodeReport>;
    if (typeof raw.node !== 'string' || typeof raw.registries !== 'object' || raw.registries === null) return null;
    const registries: Record<string, RegistryOnNode> = {};
    for (const [key, value] of Object.entries(raw.registries)) {
      const entry = value as Partial<RegistryOnNode>;
      registries[key] = {
        configured: entry?.configured === true,
        reason: typeof entry?.reason === 'string' ? entry.reason : 'Unknown',
        message: typeof entry?.message === 'string' ? entry.message : '',
        ...(typeof entry?.host === 'string' ? { host: entry.host } : {}),
        ...(typeof entry?.server === 'string' ? { server: entry.server } : {}),
        ...(typeof entry?.mirrors === 'object' && entry.mirrors !== null ? { mirrors: mirrorsOf(entry.mirrors) } : {}),
      };
    }
    return { node: raw.node, runtime: verdictOf(raw.runtime), directory: verdictOf(raw.directory), registries };
  } catch {
    return null;
  }
}
