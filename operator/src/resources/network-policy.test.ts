import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1NetworkPolicyPeer } from '@kubernetes/client-node';
import type { Registry, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { API_PORT, OPS_PORT } from './names.ts';
import { buildNetworkPolicy, MONITORING_NAMESPACE_LABEL } from './network-policy.ts';

function registry(spec: RegistrySpec = {}): Registry {
  return {
    apiVersion: 'regop.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name: 'team', namespace: 'apps', uid: 'uid-1', generation: 1 },
    spec,
  };
}

const inputs = { operatorNamespace: 'regop-system', nodeAddresses: ['10.0.0.2', '10.0.0.1', 'fd00::1', '10.0.0.1'] };

function admittedTo(port: number, spec: RegistrySpec = {}): V1NetworkPolicyPeer[] {
  const policy = buildNetworkPolicy(registry(spec), inputs)!;
  const rule = policy.spec!.ingress!.find((r) => r.ports!.some((p) => p.port === port));
  assert.ok(rule, `no ingress rule for port ${port}`);
  return rule._from!;
}

const operatorNamespace = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'regop-system' } } };
const nodes = [
  { ipBlock: { cidr: '10.0.0.1/32' } },
  { ipBlock: { cidr: '10.0.0.2/32' } },
  { ipBlock: { cidr: 'fd00::1/128' } },
];

describe('Registry NetworkPolicy builder', () => {
  it('selects the registry pods, owned by the Registry, on by default', () => {
    const policy = buildNetworkPolicy(registry(), inputs)!;
    assert.equal(policy.metadata!.name, 'team');
    assert.equal(policy.metadata!.namespace, 'apps');
    assert.equal(policy.metadata!.ownerReferences?.[0]?.uid, 'uid-1');
    assert.deepEqual(policy.spec!.podSelector?.matchLabels, { 'app.kubernetes.io/name': 'regop-registry', 'app.kubernetes.io/instance': 'team' });
    assert.deepEqual(policy.spec!.policyTypes, ['Ingress', 'Egress']);
  });

  it('is absent when spec.networkPolicy.enabled is false', () => {
    assert.equal(buildNetworkPolicy(registry({ networkPolicy: { enabled: false } }), inputs), null);
  });

  it('admits every pod, the nodes, the operator and regop Jobs to the API by default', () => {
    const from = admittedTo(API_PORT);
    assert.deepEqual(from[0], { namespaceSelector: {} });
    for (const node of nodes) assert.ok(from.some((p) => JSON.stringify(p) === JSON.stringify(node)), `node ${node.ipBlock.cidr} not admitted`);
    assert.equal(from.filter((p) => p.ipBlock).length, 3, 'a node address listed twice gives one peer');
    assert.ok(from.some((p) => JSON.stringify(p) === JSON.stringify(operatorNamespace)));
    assert.ok(from.some((p) => !p.namespaceSelector && p.podSelector?.matchLabels?.['app.kubernetes.io/managed-by'] === 'regop'));
  });

  it('admits only the listed peers to the API besides nodes, operator and regop Jobs', () => {
    const listed = { namespaceSelector: { matchLabels: { team: 'a' } }, podSelector: { matchLabels: { role: 'ci' } } };
    const from = admittedTo(API_PORT, { networkPolicy: { allowFrom: [listed] } });
    assert.deepEqual(from[0], listed);
    assert.ok(!from.some((p) => JSON.stringify(p) === JSON.stringify({ namespaceSelector: {} })), 'the whole cluster is still admitted');
    assert.ok(from.some((p) => JSON.stringify(p) === JSON.stringify(operatorNamespace)));
  });

  it('admits only the operator, the nodes and monitoring namespaces to the metrics port', () => {
    const from = admittedTo(OPS_PORT);
    assert.deepEqual(from[0], { namespaceSelector: { matchLabels: { [MONITORING_NAMESPACE_LABEL]: 'true' } } });
    assert.ok(from.some((p) => JSON.stringify(p) === JSON.stringify(operatorNamespace)));
    assert.ok(!from.some((p) => JSON.stringify(p) === JSON.stringify({ namespaceSelector: {} })));
    const custom = admittedTo(OPS_PORT, { networkPolicy: { metricsFrom: [{ ipBlock: { cidr: '192.0.2.0/24' } }] } });
    assert.deepEqual(custom[0], { ipBlock: { cidr: '192.0.2.0/24' } });
  });

  it('limits egress to DNS and the upstreams\', bucket\'s and webhooks\' ports', () => {
    const policy = buildNetworkPolicy(registry({
      mirrors: [
        { registry: 'docker.io', upstream: 'https://registry-1.docker.io' },
        { registry: 'local', upstream: 'http://10.0.0.9:5000' },
      ],
      storage: { s3: { bucket: 'b', endpoint: 'http://minio.storage:9000', credentialsSecretRef: { name: 's3' } } },
      notifications: { endpoints: [{ name: 'siem', url: 'https://siem.example:8443/in' }] },
    }), inputs)!;
    const ports = policy.spec!.egress!.map((rule) => rule.ports!.map((p) => `${p.protocol}/${p.port}`));
    assert.deepEqual(ports, [['UDP/53', 'TCP/53'], ['TCP/443', 'TCP/5000', 'TCP/8443', 'TCP/9000']]);
    assert.ok(policy.spec!.egress!.every((rule) => rule.to === undefined), 'a destination was narrowed to addresses nobody resolved');
    const awsDefault = buildNetworkPolicy(registry({ storage: { s3: { bucket: 'b', credentialsSecretRef: { name: 's3' } } } }), inputs)!;
    assert.deepEqual(awsDefault.spec!.egress![1]!.ports, [{ protocol: 'TCP', port: 443 }]);
    const none = buildNetworkPolicy(registry(), inputs)!;
    assert.equal(none.spec!.egress!.length, 1, 'a registry without upstreams or bucket may still open connections beyond DNS');
  });

  it('leaves egress open when restrictEgress is false', () => {
    const policy = buildNetworkPolicy(registry({ networkPolicy: { restrictEgress: false } }), inputs)!;
    assert.deepEqual(policy.spec!.policyTypes, ['Ingress']);
    assert.equal(policy.spec!.egress, undefined);
  });
});
