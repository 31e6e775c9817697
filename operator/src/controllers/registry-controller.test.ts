import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject, V1Deployment, V1Secret } from '@kubernetes/client-node';
import type { Registry, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { FakeClusterClient } from '../kube/fake-cluster-client.ts';
import type { EventSink } from '../kube/event-sink.ts';
import { INPUTS_HASH_ANNOTATION } from '../resources/deployment.ts';
import { PULL_SECRET_FINALIZER, RegistryController } from './registry-controller.ts';

interface RecordedEvent { type: string; reason: string; message: string }

class RecordingEvents implements EventSink {
  readonly events: RecordedEvent[] = [];
  normal(_o: KubernetesObject, reason: string, message: string) { this.events.push({ type: 'Normal', reason, message }); }
  warning(_o: KubernetesObject, reason: string, message: string) { this.events.push({ type: 'Warning', reason, message }); }
}

const NS = 'apps';

function registryObject(spec: RegistrySpec, generation = 1): Registry {
  return { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'team', namespace: NS, uid: 'u1', generation }, spec };
}

describe('Registry controller', () => {
  let client: FakeClusterClient;
  let events: RecordingEvents;
  let controller: RegistryController;

  const get = <T extends KubernetesObject>(apiVersion: string, kind: string, name: string, namespace = NS) =>
    client.get<T>({ apiVersion, kind, name, namespace });
  const registry = () => get<Registry & KubernetesObject>('regop.dev/v1alpha1', 'Registry', 'team');
  const deployment = () => get<V1Deployment>('apps/v1', 'Deployment', 'team');
  const condition = async (type: string) => (await registry())!.status?.conditions?.find((c) => c.type === type);
  const markDeploymentReady = async () => {
    const current = (await deployment())!;
    client.put({ ...current, status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1, observedGeneration: current.metadata!.generation ?? 0 } } as V1Deployment);
  };

  beforeEach(() => {
    client = new FakeClusterClient();
    events = new RecordingEvents();
    controller = new RegistryController({ client, events, defaultImage: 'regop:dev', storageUsage: async () => 3 * 1024 * 1024 * 1024 + 512 * 1024 * 1024 });
  });

  it('creates every child of a minimal Registry and reports progress, then Ready', async () => {
    client.put(registryObject({ auth: { users: [{ name: 'alice' }] } }));
    const outcome = await controller.reconcile(`${NS}/team`);
    for (const [kind, name] of [['Secret', 'team-user-alice'], ['Secret', 'team-auth'], ['Secret', 'team-tls'], ['Secret', 'team-ca'], ['Secret', 'team-ca-key'], ['Secret', 'team-admin'], ['ConfigMap', 'team-config'], ['PersistentVolumeClaim', 'team-data'], ['Service', 'team']]) {
      assert.ok(await get('v1', kind!, name!), `${kind} ${name} missing`);
    }
    assert.equal((await deployment())!.spec!.template.spec!.containers[0]!.image, 'regop:dev');
    assert.equal((await condition('Ready'))!.status, 'False');
    assert.equal((await condition('Progressing'))!.status, 'True');
    assert.equal((await registry())!.status!.url, 'https://team.apps.svc');
    assert.equal((await registry())!.status!.caSecretName, 'team-ca');
    assert.deepEqual(outcome, { requeueAfterMs: 5000 });

    await markDeploymentReady();
    await controller.reconcile(`${NS}/team`);
    assert.equal((await condition('Ready'))!.status, 'True');
    assert.equal((await condition('Degraded'))!.status, 'False');
    assert.equal((await registry())!.status!.storageUsed, '3.5Gi');
    assert.ok(events.events.some((e) => e.reason === 'Ready'));
  });

  it('is idempotent: a second pass keeps the CA, the password, the bcrypt hash and the pods', async () => {
    client.put(registryObject({ auth: { users: [{ name: 'alice' }] } }));
    await controller.reconcile(`${NS}/team`);
    const first = { ca: (await get<V1Secret>('v1', 'Secret', 'team-ca'))!.data, auth: (await get<V1Secret>('v1', 'Secret', 'team-auth'))!.data, hash: (await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION] };
    const patches = client.statusPatches.length;
    await controller.reconcile(`${NS}/team`);
    assert.deepEqual((await get<V1Secret>('v1', 'Secret', 'team-ca'))!.data, first.ca);
    assert.deepEqual((await get<V1Secret>('v1', 'Secret', 'team-auth'))!.data, first.auth);
    assert.equal((await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION], first.hash);
    assert.equal(client.statusPatches.length, patches, 'unchanged status was written again');
    assert.ok(!events.events.some((e) => e.reason === 'RollingOut'));
  });

  it('rolls the pods when a referenced password changes', async () => {
    client.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-pw', namespace: NS }, stringData: { password: 'first-pass' } } as V1Secret);
    client.put(registryObject({ auth: { users: [{ name: 'alice', passwordSecretRef: { name: 'alice-pw' } }] } }));
    await controller.reconcile(`${NS}/team`);
    const before = (await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION];
    client.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-pw', namespace: NS }, stringData: { password: 'second-pass' } } as V1Secret);
    await controller.reconcile(`${NS}/team`);
    assert.notEqual((await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION], before);
    assert.ok(events.events.some((e) => e.reason === 'RollingOut'));
  });

  it('reports a missing password Secret as Degraded with an Event and leaves the running registry alone', async () => {
    client.put(registryObject({ auth: { users: [{ name: 'alice' }] } }));
    await controller.reconcile(`${NS}/team`);
    await markDeploymentReady();
    await controller.reconcile(`${NS}/team`);
    const running = await deployment();
    client.put(registryObject({ auth: { users: [{ name: 'alice' }, { name: 'bob', passwordSecretRef: { name: 'nope' } }] } }, 2));
    const outcome = await controller.reconcile(`${NS}/team`);
    assert.deepEqual(outcome, { requeueAfterMs: 30000 });
    const degraded = (await condition('Degraded'))!;
    assert.equal(degraded.status, 'True');
    assert.equal(degraded.reason, 'PasswordSecretNotFound');
    assert.match(degraded.message!, /Secret nope/);
    assert.equal((await condition('Ready'))!.status, 'True', 'a serving registry stays Ready');
    assert.ok(events.events.some((e) => e.type === 'Warning' && e.reason === 'PasswordSecretNotFound'));
    assert.deepEqual((await deployment())!.spec, running!.spec, 'the running Deployment was changed');
  });

  it('reports cert-manager missing as Degraded', async () => {
    client.missingKinds.add('Certificate');
    client.put(registryObject({ tls: { mode: 'CertManager', issuerRef: { name: 'ca' } } }));
    await controller.reconcile(`${NS}/team`);
    assert.equal((await condition('Degraded'))!.reason, 'CertManagerNotInstalled');
  });

  it('copies pull Secrets into existing namespaces, removes stale copies and cleans up on deletion', async () => {
    for (const ns of ['web', 'jobs']) client.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    client.put(registryObject({ pullSecret: { namespaces: ['web', 'jobs', 'ghost'] } }));
    await controller.reconcile(`${NS}/team`);
    assert.deepEqual((await registry())!.metadata.finalizers, [PULL_SECRET_FINALIZER]);
    await controller.reconcile(`${NS}/team`);
    for (const ns of ['web', 'jobs']) {
      const copy = await get<V1Secret>('v1', 'Secret', 'team-pull', ns);
      assert.equal(copy!.type, 'kubernetes.io/dockerconfigjson');
      assert.ok(await get('v1', 'ConfigMap', 'team-ca', ns));
    }
    assert.ok(events.events.some((e) => e.reason === 'PullSecretNamespaceMissing'));

    const current = (await registry())!;
    client.put({ ...current, spec: { pullSecret: { namespaces: ['web'] } } });
    await controller.reconcile(`${NS}/team`);
    assert.equal(await get('v1', 'Secret', 'team-pull', 'jobs'), null);
    assert.ok(await get('v1', 'Secret', 'team-pull', 'web'));

    const deleting = (await registry())!;
    client.put({ ...deleting, metadata: { ...deleting.metadata, deletionTimestamp: new Date() } });
    await controller.reconcile(`${NS}/team`);
    assert.equal(await get('v1', 'Secret', 'team-pull', 'web'), null);
    assert.equal(await registry(), null, 'finalizer not removed');
  });

  it('never puts a password into status or events', async () => {
    client.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-pw', namespace: NS }, stringData: { password: 'very-secret-value' } } as V1Secret);
    client.put(registryObject({ auth: { users: [{ name: 'alice', passwordSecretRef: { name: 'alice-pw' } }, { name: 'bob' }] }, pullSecret: { namespaces: [] } }));
    await controller.reconcile(`${NS}/team`);
    const bob = Buffer.from((await get<V1Secret>('v1', 'Secret', 'team-user-bob'))!.data!.password!, 'base64').toString();
    const visible = JSON.stringify({ status: (await registry())!.status, events: events.events });
    for (const secret of ['very-secret-value', bob]) assert.ok(!visible.includes(secret));
  });
});

describe('formatBytes', () => {
  it('writes sizes as Kubernetes quantities', async () => {
    const { formatBytes } = await import('./registry-controller.ts');
    assert.equal(formatBytes(0), '0');
    assert.equal(formatBytes(1023), '1023');
    assert.equal(formatBytes(512 * 1024), '512Ki');
    assert.equal(formatBytes(1536 * 1024 * 1024), '1.5Gi');
  });
});
