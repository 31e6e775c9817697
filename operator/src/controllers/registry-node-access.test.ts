// The Registry controller's side of node access: the CA published for the node agent, the ClusterIP in the
// serving certificate, and status.nodesConfigured with the NodeAccess condition from the agents' reports.
import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject, V1ConfigMap, V1Deployment, V1Secret, V1Service } from '@kubernetes/client-node';
import type { Registry, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { inspectCertificate } from '../certs/certificates.ts';
import { FakeClusterClient } from '../kube/fake-cluster-client.ts';
import type { EventSink } from '../kube/event-sink.ts';
import { buildService } from '../resources/service.ts';
import type { NodeReport } from '../node-agent/report.ts';
import type { NodeAgentView } from './node-access.ts';
import { RegistryController } from './registry-controller.ts';

const NS = 'apps';
const events: Array<{ type: string; reason: string }> = [];
const sink: EventSink = {
  normal: (_o: KubernetesObject, reason: string) => { events.push({ type: 'Normal', reason }); },
  warning: (_o: KubernetesObject, reason: string) => { events.push({ type: 'Warning', reason }); },
};

function registryObject(spec: RegistrySpec): Registry {
  return { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'team', namespace: NS, uid: 'u1', generation: 1 }, spec };
}

function report(node: string, configured: boolean): NodeReport {
  return { node, runtime: { ok: true }, directory: { ok: true }, registries: { 'apps/team': { configured, reason: configured ? 'Configured' : 'Pending', message: 'waiting', server: 'https://10.218.0.9' } } };
}

describe('Registry controller: node access', () => {
  let client: FakeClusterClient;
  let view: NodeAgentView | null;
  let controller: RegistryController;
  const get = <T extends KubernetesObject>(apiVersion: string, kind: string, name: string) => client.get<T>({ apiVersion, kind, name, namespace: NS });
  const registry = async () => (await get<Registry & KubernetesObject>('regop.dev/v1alpha1', 'Registry', 'team'))!;
  const markReady = async () => {
    const current = (await get<V1Deployment>('apps/v1', 'Deployment', 'team'))!;
    client.put({ ...current, status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1, observedGeneration: current.metadata!.generation ?? 0 } } as V1Deployment);
  };

  beforeEach(() => {
    client = new FakeClusterClient();
    view = { desiredNodes: 2, reports: [] };
    events.length = 0;
    controller = new RegistryController({ client, events: sink, defaultImage: 'regop:dev', nodeAgentView: async () => view });
  });

  it('puts the Service ClusterIP in the first serving certificate and publishes the CA as a ConfigMap', async () => {
    const built = buildService(registryObject({}));
    client.put(registryObject({}));
    // the API server assigns the address when the Service is created
    client.put({ ...built, spec: { ...built.spec, clusterIP: '10.218.0.9', clusterIPs: ['10.218.0.9'] } } as V1Service);
    await controller.reconcile(`${NS}/team`);
    const tls = (await get<V1Secret>('v1', 'Secret', 'team-tls'))!;
    const certPem = tls.stringData?.['tls.crt'] ?? Buffer.from(tls.data!['tls.crt']!, 'base64').toString();
    assert.ok(inspectCertificate(certPem).names.includes('10.218.0.9'), inspectCertificate(certPem).names.join());
    const ca = (await get<V1ConfigMap>('v1', 'ConfigMap', 'team-node-ca'))!;
    assert.match(ca.data!['ca.crt']!, /BEGIN CERTIFICATE/);
    assert.equal(ca.metadata!.labels!['regop.dev/node-ca'], 'true');
  });

  it('reports N/M configured nodes and the NodeAccess condition', async () => {
    client.put(registryObject({}));
    await controller.reconcile(`${NS}/team`);
    await markReady();
    view = { desiredNodes: 2, reports: [report('a', true), report('b', false)] };
    await controller.reconcile(`${NS}/team`);
    let status = (await registry()).status!;
    assert.equal(status.nodesConfigured, '1/2');
    const pending = status.conditions!.find((c) => c.type === 'NodeAccess')!;
    assert.equal(pending.status, 'False');
    assert.match(pending.message, /^node b: /);

    view = { desiredNodes: 2, reports: [report('a', true), report('b', true)] };
    await controller.reconcile(`${NS}/team`);
    status = (await registry()).status!;
    assert.equal(status.nodesConfigured, '2/2');
    assert.equal(status.conditions!.find((c) => c.type === 'NodeAccess')!.status, 'True');
  });

  it('warns that pulls are unencrypted when TLS is disabled', async () => {
    client.put(registryObject({ tls: { mode: 'Disabled' } }));
    await controller.reconcile(`${NS}/team`);
    await markReady();
    view = { desiredNodes: 1, reports: [report('a', true)] };
    await controller.reconcile(`${NS}/team`);
    await controller.reconcile(`${NS}/team`);
    assert.deepEqual(events.filter((e) => e.reason === 'UnencryptedPulls'), [{ type: 'Warning', reason: 'UnencryptedPulls' }]);
  });
});
