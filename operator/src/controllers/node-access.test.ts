import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Registry } from '../api/v1alpha1/registry.ts';
import type { NodeReport } from '../node-agent/report.ts';
import { nodeAccessStatus } from './node-access.ts';

function registry(spec: Record<string, unknown> = {}): Registry {
  return { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'team', namespace: 'apps' }, spec } as Registry;
}

const ok = { ok: true };
function report(node: string, entry?: Partial<NodeReport['registries'][string]>, runtime: NodeReport['runtime'] = ok): NodeReport {
  return {
    node, runtime, directory: ok,
    registries: entry ? { 'apps/team': { configured: true, reason: 'Configured', message: '', server: 'https://10.218.0.9', ...entry } } : {},
  };
}

describe('node access status', () => {
  it('is True with N/N when every node pulls through the agent', () => {
    const status = nodeAccessStatus(registry(), true, { desiredNodes: 3, reports: [report('a', {}), report('b', {}), report('c', {})] });
    assert.equal(status.nodesConfigured, '3/3');
    assert.equal(status.condition.status, 'True');
    assert.equal(status.condition.reason, 'AllNodesConfigured');
    assert.match(status.condition.message, /team\.apps\.svc through https:\/\/10\.218\.0\.9/);
    assert.equal(status.warning, undefined);
  });

  it('names the node whose containerd does not read the directory, and the line to add', () => {
    const runtime = { ok: false, reason: 'ConfigPathNotSet', message: 'add `config_path = "/etc/containerd/certs.d"`' };
    const status = nodeAccessStatus(registry(), true, { desiredNodes: 2, reports: [report('a', {}), report('b', {}, runtime)] });
    assert.equal(status.nodesConfigured, '1/2');
    assert.equal(status.condition.status, 'False');
    assert.equal(status.condition.reason, 'ConfigPathNotSet');
    assert.match(status.condition.message, /^node b: add `config_path/);
  });

  it('gives the agent\'s reason for a node it could not configure', () => {
    const status = nodeAccessStatus(registry(), true, { desiredNodes: 1, reports: [report('a', { configured: false, reason: 'CertificateNotValidForAddress', message: 'no IP SAN' })] });
    assert.equal(status.nodesConfigured, '0/1');
    assert.equal(status.condition.reason, 'CertificateNotValidForAddress');
  });

  it('counts nodes without a running agent', () => {
    const status = nodeAccessStatus(registry(), true, { desiredNodes: 2, reports: [report('a', {})] });
    assert.equal(status.nodesConfigured, '1/2');
    assert.equal(status.condition.reason, 'AgentNotRunning');
  });

  it('waits for Ready, and says when it is turned off or the agent is not installed', () => {
    assert.equal(nodeAccessStatus(registry(), false, { desiredNodes: 1, reports: [report('a')] }).condition.reason, 'WaitingForRegistry');
    assert.equal(nodeAccessStatus(registry({ nodeAccess: { enabled: false } }), true, null).condition.reason, 'Disabled');
    assert.equal(nodeAccessStatus(registry(), true, null).condition.status, 'Unknown');
  });

  it('warns once when nodes pull over plain HTTP', () => {
    const view = { desiredNodes: 1, reports: [report('a', { server: 'http://10.218.0.9:443' })] };
    const first = nodeAccessStatus(registry({ tls: { mode: 'Disabled' } }), true, view);
    assert.equal(first.condition.reason, 'ConfiguredPlainHTTP');
    assert.equal(first.warning?.reason, 'UnencryptedPulls');
    assert.equal(nodeAccessStatus(registry({ tls: { mode: 'Disabled' } }), true, view, first.condition).warning, undefined);
  });
});
