// A Registry's node access, from the node agents' per-node reports (node-agent/report.ts): how many nodes
// pull its host through the files the agent wrote (`status.nodesConfigured`, "N/M") and the NodeAccess
// condition. A node counts only when its containerd also reads the agent's directory. Pure: the reports and
// the number of nodes the agent should run on in, status out; the first node with a problem (by name) gives
// the reason and message, so the condition names the node and what to do there.
import type { Registry } from '../api/v1alpha1/registry.ts';
import { nodeAccessEnabled, registryKeyOf, serviceHost } from '../node-agent/hosts-config.ts';
import type { NodeReport } from '../node-agent/report.ts';
import { tlsEnabled } from '../resources/names.ts';
import type { ConditionUpdate } from '../status/conditions.ts';

export const NODE_ACCESS_CONDITION = 'NodeAccess';

export interface NodeAgentView {
  /** nodes the agent's DaemonSet should run on */
  desiredNodes: number;
  reports: NodeReport[];
}

export interface NodeAccessStatus {
  nodesConfigured?: string;
  condition: ConditionUpdate;
  /** once, when nodes start pulling over plain HTTP */
  warning?: { reason: string; message: string };
}

function problemOf(report: NodeReport, key: string): { reason: string; message: string } | null {
  const entry = report.registries[key];
  if (!report.directory.ok) return { reason: report.directory.reason ?? 'DirectoryNotWritable', message: report.directory.message ?? '' };
  if (entry && !entry.configured) return { reason: entry.reason, message: entry.message };
  const mirror = Object.entries(entry?.mirrors ?? {}).find(([, m]) => !m.configured);
  if (mirror) return { reason: mirror[1].reason, message: `mirror ${mirror[0]}: ${mirror[1].message}` };
  if (!report.runtime.ok) return { reason: report.runtime.reason ?? 'ConfigPathNotSet', message: report.runtime.message ?? '' };
  if (!entry) return { reason: 'Pending', message: 'the agent has not configured this Registry yet' };
  return null;
}

/**
 * @param view null when no node agent is installed
 * @param previous the NodeAccess condition as stored, to warn once about plain HTTP
 */
export function nodeAccessStatus(registry: Registry, ready: boolean, view: NodeAgentView | null, previous?: { status?: string }): NodeAccessStatus {
  if (!nodeAccessEnabled(registry)) {
    const condition: ConditionUpdate = { type: NODE_ACCESS_CONDITION, status: 'False', reason: 'Disabled', message: 'spec.nodeAccess.enabled is false: nodes pull this registry only as they are configured by hand' };
    return view ? { nodesConfigured: `0/${Math.max(view.desiredNodes, view.reports.length)}`, condition } : { condition };
  }
  if (!view) {
    return { condition: { type: NODE_ACCESS_CONDITION, status: 'Unknown', reason: 'AgentNotInstalled', message: 'the regop node agent is not installed (chart value nodeAgent.enabled)' } };
  }
  const key = registryKeyOf(registry);
  const reports = [...view.reports].sort((a, b) => a.node.localeCompare(b.node));
  const total = Math.max(view.desiredNodes, reports.length);
  const configured = reports.filter((r) => problemOf(r, key) === null).length;
  const nodesConfigured = `${configured}/${total}`;
  if (total > 0 && configured === total) {
    const plain = !tlsEnabled(registry);
    const host = serviceHost(registry);
    const condition: ConditionUpdate = {
      type: NODE_ACCESS_CONDITION, status: 'True', reason: plain ? 'ConfiguredPlainHTTP' : 'AllNodesConfigured',
      message: `${nodesConfigured} nodes pull ${host} through ${reports[0]?.registries[key]?.server ?? 'its Service'}${plain ? ' over plain HTTP' : ', verifying TLS against the Registry CA'}`,
    };
    const warning = plain && previous?.status !== 'True'
      ? { reason: 'UnencryptedPulls', message: `tls.mode is Disabled: nodes pull ${host} over plain HTTP, unencrypted and unauthenticated` }
      : undefined;
    return { nodesConfigured, condition, ...(warning ? { warning } : {}) };
  }
  if (!ready && configured === 0) {
    return { nodesConfigured, condition: { type: NODE_ACCESS_CONDITION, status: 'False', reason: 'WaitingForRegistry', message: 'nodes are configured once the Registry is Ready' } };
  }
  for (const report of reports) {
    const problem = problemOf(report, key);
    if (problem) return { nodesConfigured, condition: { type: NODE_ACCESS_CONDITION, status: 'False', reason: problem.reason, message: `node ${report.node}: ${problem.message}` } };
  }
  const missing = total - reports.length;
  return {
    nodesConfigured,
    condition: { type: NODE_ACCESS_CONDITION, status: 'False', reason: 'AgentNotRunning', message: `${missing} of ${total} nodes have no running node agent` },
  };
}
