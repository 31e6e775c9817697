import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { KubernetesObject, V1Deployment, V1Secret } from '@kubernetes/client-node';
import type { Registry, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { FakeClusterClient } from '../kube/fake-cluster-client.ts';
import type { EventSink } from '../kube/event-sink.ts';
import { INPUTS_HASH_ANNOTATION } from '../resources/deployment.ts';
import { MANAGED_BY_LABELS } from '../resources/names.ts';
import { RENEW_CERTIFICATE_ANNOTATION } from '../resources/tls-secret.ts';
import { MOUNTED_SECRETS_ANNOTATION, PULL_SECRET_FINALIZER, RegistryController, REPLICAS_HANDOVER_MANAGER, ROLLOUT_POLL_MS } from './registry-controller.ts';

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
    controller = new RegistryController({
      client, events, defaultImage: 'regop:dev', podMetrics: async () => `regop_registry_storage_bytes ${3 * 1024 * 1024 * 1024 + 512 * 1024 * 1024}\n`,
    });
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
    assert.deepEqual(outcome, { requeueAfterMs: ROLLOUT_POLL_MS });

    await markDeploymentReady();
    const labels = { 'app.kubernetes.io/name': 'regop-registry', 'app.kubernetes.io/instance': 'team' };
    client.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'team-abc', namespace: NS, labels }, status: { phase: 'Running', podIP: '10.0.0.7' } } as KubernetesObject);
    await controller.reconcile(`${NS}/team`);
    assert.equal((await condition('Ready'))!.status, 'True');
    assert.equal((await condition('Degraded'))!.status, 'False');
    assert.equal((await registry())!.status!.storageUsed, '3.5Gi');
    assert.ok(events.events.some((e) => e.reason === 'Ready'));
  });

  it('fences the pods with a NetworkPolicy that admits the nodes\' addresses, and removes it when turned off', async () => {
    client.put({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [
      { type: 'InternalIP', address: '192.168.5.10' }, { type: 'Hostname', address: 'n1' },
    ] } } as KubernetesObject);
    controller = new RegistryController({ client, events, defaultImage: 'regop:dev', operatorNamespace: 'regop-system' });
    client.put(registryObject({}));
    await controller.reconcile(`${NS}/team`);
    const policy = await get<KubernetesObject & { spec: { ingress: { _from: unknown[] }[] } }>('networking.k8s.io/v1', 'NetworkPolicy', 'team');
    assert.ok(policy, 'no NetworkPolicy');
    const peers = JSON.stringify(policy.spec.ingress[0]!._from);
    assert.match(peers, /192\.168\.5\.10\/32/);
    assert.doesNotMatch(peers, /"n1"/, 'a hostname was taken for an address');
    assert.match(peers, /regop-system/);

    const current = (await registry())!;
    client.put({ ...current, metadata: { ...current.metadata, generation: 2 }, spec: { networkPolicy: { enabled: false } } });
    await controller.reconcile(`${NS}/team`);
    assert.equal(await get('networking.k8s.io/v1', 'NetworkPolicy', 'team'), null, 'the NetworkPolicy outlived spec.networkPolicy.enabled');
  });

  it('is Degraded without applying anything while a webhook\'s header Secret or key is missing, and names neither value', async () => {
    const endpoint = { name: 'siem', url: 'https://siem.example', headersFrom: [{ name: 'Authorization', secretKeyRef: { name: 'siem-token', key: 'header' } }] };
    client.put(registryObject({ notifications: { endpoints: [endpoint] } }));
    await controller.reconcile(`${NS}/team`);
    assert.equal((await condition('Degraded'))!.reason, 'NotificationSecretNotFound');
    assert.match((await condition('Degraded'))!.message!, /Secret siem-token \(header Authorization of webhook siem\) not found/);
    assert.equal(await deployment(), null, 'a Deployment whose pods cannot mount their volume was applied');

    client.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'siem-token', namespace: NS }, stringData: { other: 'Bearer s3cr3t-value' } } as KubernetesObject);
    await controller.reconcile(`${NS}/team`);
    assert.equal((await condition('Degraded'))!.reason, 'NotificationSecretKeyMissing');
    assert.doesNotMatch(JSON.stringify((await registry())!.status), /s3cr3t/);

    client.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'siem-token', namespace: NS }, stringData: { header: 'Bearer s3cr3t-value' } } as KubernetesObject);
    await controller.reconcile(`${NS}/team`);
    assert.ok(await deployment(), 'no Deployment once the Secret holds its key');
    assert.doesNotMatch(JSON.stringify((await get('v1', 'ConfigMap', 'team-config'))), /s3cr3t/);
  });

  it('schedules backups once the destination claim exists, and reports the last backup Job once, from its summary', async () => {
    const backup = { schedule: '0 3 * * *', destination: { persistentVolumeClaim: { claimName: 'team-backups' } } };
    client.put(registryObject({ backup }));
    await controller.reconcile(`${NS}/team`);
    assert.equal((await condition('Degraded'))!.reason, 'BackupClaimNotFound');
    assert.equal(await get('batch/v1', 'CronJob', 'team-backup'), null);

    client.put({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'team-backups', namespace: NS } } as KubernetesObject);
    await controller.reconcile(`${NS}/team`);
    assert.ok(await get('batch/v1', 'CronJob', 'team-backup'), 'no CronJob');
    await markDeploymentReady();
    const when = new Date('2026-03-01T03:00:00.000Z');
    client.put({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'team-backup-1', namespace: NS, creationTimestamp: when, labels: { ...MANAGED_BY_LABELS, 'regop.dev/backup': 'team' } }, status: { succeeded: 1, startTime: when, completionTime: when } } as KubernetesObject);
    const message = JSON.stringify({ snapshot: '20260301T030000Z', images: 4, tags: 3, blobsCopied: 9, bytesCopied: 1048576, bytesSkipped: 0 });
    client.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'b', namespace: NS, creationTimestamp: when, labels: { 'job-name': 'team-backup-1' } }, status: { containerStatuses: [{ name: 'backup', state: { terminated: { exitCode: 0, message } } }] } } as KubernetesObject);
    await controller.reconcile(`${NS}/team`);
    await controller.reconcile(`${NS}/team`);
    const last = (await registry())!.status!.lastBackup!;
    assert.deepEqual([last.result, last.snapshot, last.images, last.blobsCopied, last.bytesCopied], ['Succeeded', '20260301T030000Z', 4, 9, 1048576]);
    assert.equal(events.events.filter((e) => e.reason === 'BackupSucceeded').length, 1, 'one Event per finished Job');

    const current = (await registry())!;
    client.put({ ...current, metadata: { ...current.metadata, generation: 2 }, spec: {} });
    await controller.reconcile(`${NS}/team`);
    assert.equal(await get('batch/v1', 'CronJob', 'team-backup'), null, 'the CronJob outlived spec.backup');
    assert.equal((await registry())!.status!.lastBackup, undefined);
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

  it('changes users, passwords, pull-secret namespaces and the certificate without touching the pod template', async () => {
    client.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'web' } });
    client.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-pw', namespace: NS }, stringData: { password: 'first-pass' } } as V1Secret);
    const spec: RegistrySpec = { auth: { users: [{ name: 'alice', passwordSecretRef: { name: 'alice-pw' } }] } };
    client.put(registryObject(spec));
    await controller.reconcile(`${NS}/team`);
    const template = (await deployment())!.spec!.template;
    const auth = async () => (await get<V1Secret>('v1', 'Secret', 'team-auth'))!.data!;
    const cert = async () => (await get<V1Secret>('v1', 'Secret', 'team-tls'))!.data!['tls.crt'];
    const authBefore = await auth();
    const certBefore = await cert();

    client.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-pw', namespace: NS }, stringData: { password: 'second-pass' } } as V1Secret);
    await controller.reconcile(`${NS}/team`);
    const rotated = await auth();
    assert.notEqual(rotated.htpasswd, authBefore.htpasswd, 'the new password did not reach the auth Secret');
    assert.ok(events.events.some((e) => e.reason === 'CredentialsUpdated'));

    const current = (await registry())!;
    client.put({ ...current, metadata: { ...current.metadata, generation: 2 }, spec: { auth: { anonymousPull: true, users: [...spec.auth!.users!, { name: 'bob' }] }, pullSecret: { namespaces: ['web'] } } });
    await controller.reconcile(`${NS}/team`);
    const grown = Buffer.from((await auth())['access.yaml']!, 'base64').toString();
    assert.match(grown, /user: bob/);
    assert.match(grown, /anonymousPull: true/, 'anonymous pull belongs in the reloaded access file');

    const annotated = (await registry())!;
    client.put({ ...annotated, metadata: { ...annotated.metadata, annotations: { [RENEW_CERTIFICATE_ANNOTATION]: '2024-05-01T10:00:00Z' } } });
    await controller.reconcile(`${NS}/team`);
    assert.notEqual(await cert(), certBefore, 'the renewal request did not issue a certificate');

    assert.deepEqual((await deployment())!.spec!.template, template, 'the pod template changed, which restarts the pods');
    assert.ok(!events.events.some((e) => e.reason === 'RollingOut'));
  });

  it('touches the running pods (not their template) when their Secrets change, so the kubelet refreshes them at once', async () => {
    client.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-pw', namespace: NS }, stringData: { password: 'first-pass' } } as V1Secret);
    client.put(registryObject({ auth: { users: [{ name: 'alice', passwordSecretRef: { name: 'alice-pw' } }] } }));
    const labels = { 'app.kubernetes.io/name': 'regop-registry', 'app.kubernetes.io/instance': 'team' };
    client.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'team-abc', namespace: NS, labels }, status: { phase: 'Running', podIP: '10.0.0.7' } } as KubernetesObject);
    const mark = async () => (await get('v1', 'Pod', 'team-abc'))!.metadata!.annotations?.[MOUNTED_SECRETS_ANNOTATION];
    await controller.reconcile(`${NS}/team`);
    const first = await mark();
    assert.ok(first);
    await controller.reconcile(`${NS}/team`);
    assert.equal(client.annotations.length, 1, 'an unchanged pod was patched again');
    client.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-pw', namespace: NS }, stringData: { password: 'second-pass' } } as V1Secret);
    await controller.reconcile(`${NS}/team`);
    assert.notEqual(await mark(), first);
    assert.equal(client.annotations.length, 2);
  });

  it('replaces a CA that TLS clients cannot load, with a Warning, and issues the serving certificate from the new one', async () => {
    const encode = (text: string) => Buffer.from(text).toString('base64');
    const unloadable = '-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n';
    client.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'team-ca-key', namespace: NS }, data: { 'tls.crt': encode(unloadable), 'tls.key': encode('not a key') } } as V1Secret);
    client.put(registryObject({}));
    await controller.reconcile(`${NS}/team`);
    const caPem = Buffer.from((await get<V1Secret>('v1', 'Secret', 'team-ca'))!.data!['ca.crt']!, 'base64').toString();
    const servingPem = Buffer.from((await get<V1Secret>('v1', 'Secret', 'team-tls'))!.data!['tls.crt']!, 'base64').toString();
    assert.ok(new X509Certificate(servingPem).verify(new X509Certificate(caPem).publicKey));
    assert.deepEqual(events.events.filter((e) => e.reason === 'CertificateAuthorityReplaced').map((e) => e.type), ['Warning']);
  });

  it('answers one certificate renewal request once', async () => {
    client.put({ ...registryObject({}), metadata: { ...registryObject({}).metadata, annotations: { [RENEW_CERTIFICATE_ANNOTATION]: 'first' } } });
    await controller.reconcile(`${NS}/team`);
    const cert = async () => (await get<V1Secret>('v1', 'Secret', 'team-tls'))!.data!['tls.crt'];
    const issued = await cert();
    await controller.reconcile(`${NS}/team`);
    assert.equal(await cert(), issued);
    assert.equal(events.events.filter((e) => e.reason === 'CertificateIssued').length, 1);
  });

  it('rolls the pods when the registry config changes', async () => {
    client.put(registryObject({ auth: { users: [{ name: 'alice' }] } }));
    await controller.reconcile(`${NS}/team`);
    const before = (await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION];
    const current = (await registry())!;
    client.put({ ...current, spec: { ...current.spec, storage: { accessMode: 'ReadWriteMany' } } });
    await controller.reconcile(`${NS}/team`);
    assert.notEqual((await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION], before);
    assert.ok(events.events.some((e) => e.reason === 'RollingOut'));
  });

  it('reports a pod serving stale users (an auth file failed to load) as Degraded with a Warning, and clears it', async () => {
    const gauge: Record<string, string> = { htpasswd: '0', access: '0' };
    const asked: string[] = [];
    controller = new RegistryController({
      client, events, defaultImage: 'regop:dev',
      podMetrics: async (pod) => {
        asked.push(`${pod.name}@${pod.ip}`);
        return Object.entries(gauge).map(([file, value]) => `regop_registry_auth_reload_failed{file="${file}"} ${value}`).join('\n');
      },
    });
    client.put(registryObject({ auth: { users: [{ name: 'alice' }] } }));
    const labels = { 'app.kubernetes.io/name': 'regop-registry', 'app.kubernetes.io/instance': 'team' };
    client.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'team-abc', namespace: NS, labels }, status: { phase: 'Running', podIP: '10.0.0.7' } } as KubernetesObject);
    client.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'other-xyz', namespace: NS, labels: { ...labels, 'app.kubernetes.io/instance': 'other' } }, status: { phase: 'Running', podIP: '10.0.0.8' } } as KubernetesObject);
    await controller.reconcile(`${NS}/team`);
    await markDeploymentReady();
    await controller.reconcile(`${NS}/team`);
    assert.equal((await condition('Degraded'))!.status, 'False');
    assert.deepEqual([...new Set(asked)], ['team-abc@10.0.0.7'], 'asked a pod of another registry');

    gauge.htpasswd = '1';
    const outcome = await controller.reconcile(`${NS}/team`);
    const degraded = (await condition('Degraded'))!;
    assert.equal(degraded.status, 'True');
    assert.equal(degraded.reason, 'AuthReloadFailed');
    assert.match(degraded.message!, /team-abc \(htpasswd\)/);
    assert.equal((await condition('Ready'))!.status, 'True', 'the registry still serves');
    assert.ok(events.events.some((e) => e.type === 'Warning' && e.reason === 'AuthReloadFailed'));
    assert.deepEqual(outcome, { requeueAfterMs: 30000 });

    gauge.htpasswd = '0';
    await controller.reconcile(`${NS}/team`);
    assert.equal((await condition('Degraded'))!.status, 'False');
    assert.ok(events.events.some((e) => e.type === 'Normal' && e.reason === 'AuthReloaded'));
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

  describe('mirrors', () => {
    const hub = { registry: '10.217.0.1:24443', upstream: 'https://10.217.0.1:24443', credentialsSecretRef: { name: 'hub' } };
    const hubSecret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hub', namespace: NS }, stringData: { username: 'bot', password: 'tok' } } as KubernetesObject;
    const labels = { 'app.kubernetes.io/name': 'regop-registry', 'app.kubernetes.io/instance': 'team' };
    const metrics = [
      'regop_registry_mirror_hits_total{mirror="10.217.0.1-24443"} 3',
      'regop_registry_mirror_misses_total{mirror="10.217.0.1-24443"} 1',
      'regop_registry_mirror_cached_bytes{mirror="10.217.0.1-24443"} 2097152',
    ].join('\n');

    beforeEach(() => {
      controller = new RegistryController({ client, events, defaultImage: 'regop:dev', nodeAgentNamespace: 'regop-system', podMetrics: async () => metrics });
    });

    it('mounts the upstream credentials, gives the nodes a pull-only user in the agent\'s namespace, and reports what each mirror holds', async () => {
      client.put(hubSecret);
      client.put(registryObject({ mirrors: [hub] }));
      client.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'team-abc', namespace: NS, labels }, status: { phase: 'Running', podIP: '10.0.0.7' } } as KubernetesObject);
      await controller.reconcile(`${NS}/team`);
      await markDeploymentReady();
      await controller.reconcile(`${NS}/team`);
      const data = async (name: string, key: string, namespace = NS) => Buffer.from((await get<V1Secret>('v1', 'Secret', name, namespace))!.data![key]!, 'base64').toString();
      assert.deepEqual(JSON.parse(await data('team-mirrors', '10.217.0.1-24443.credentials')), { username: 'bot', password: 'tok' });
      const volumes = (await deployment())!.spec!.template.spec!.volumes!;
      assert.ok(volumes.some((v) => v.secret?.secretName === 'team-mirrors'));
      assert.equal(await data('regop-node-puller.apps.team', 'username', 'regop-system'), '_node');
      assert.equal(await data('regop-node-puller.apps.team', 'password', 'regop-system'), await data('team-node-puller', 'password'));
      const access = await data('team-auth', 'access.yaml');
      assert.match(access, /user: _node\n\s+rules:\n\s+- repositories:\n\s+- 10.217.0.1-24443\/\*\*\n\s+actions:\n\s+- pull/);
      const status = (await registry())!.status!;
      assert.deepEqual(status.mirrors, [{ registry: '10.217.0.1:24443', prefix: '10.217.0.1-24443', cachedBytes: '2Mi', hitRatio: '0.75' }]);
      assert.equal(status.mirrorsCached, '2Mi');
      assert.deepEqual((await registry())!.metadata.finalizers, [PULL_SECRET_FINALIZER]);

      const current = (await registry())!;
      client.put({ ...current, spec: {} });
      await controller.reconcile(`${NS}/team`);
      assert.equal(await get('v1', 'Secret', 'regop-node-puller.apps.team', 'regop-system'), null);
      assert.equal(await get('v1', 'Secret', 'team-mirrors'), null);
      assert.equal((await registry())!.status!.mirrors ?? undefined, undefined, 'a merge patch removes it with null');
    });

    it('rolls the pods when upstream credentials change: the registry reads them at start', async () => {
      client.put(hubSecret);
      client.put(registryObject({ mirrors: [hub] }));
      await controller.reconcile(`${NS}/team`);
      const before = (await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION];
      client.put({ ...hubSecret, stringData: { username: 'bot', password: 'rotated' } } as KubernetesObject);
      await controller.reconcile(`${NS}/team`);
      assert.notEqual((await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION], before);
    });

    it('reports a missing credentials Secret as Degraded with an Event, never naming a secret value, and leaves the running registry alone', async () => {
      client.put(registryObject({}));
      await controller.reconcile(`${NS}/team`);
      await markDeploymentReady();
      await controller.reconcile(`${NS}/team`);
      const running = await deployment();
      client.put(registryObject({ mirrors: [hub] }, 2));
      await controller.reconcile(`${NS}/team`);
      const degraded = (await condition('Degraded'))!;
      assert.equal(degraded.reason, 'MirrorCredentialsNotFound');
      assert.match(degraded.message!, /Secret hub \(credentials of mirror 10.217.0.1:24443\) not found/);
      assert.equal((await condition('Ready'))!.status, 'True');
      assert.ok(events.events.some((e) => e.type === 'Warning' && e.reason === 'MirrorCredentialsNotFound'));
      assert.deepEqual((await deployment())!.spec, running!.spec);

      client.put({ ...hubSecret, stringData: { username: 'bot' } } as KubernetesObject);
      await controller.reconcile(`${NS}/team`);
      assert.equal((await condition('Degraded'))!.reason, 'MirrorCredentialsInvalid');
      client.put(registryObject({ mirrors: [{ registry: 'docker.io', upstream: 'http://registry-1.docker.io' }] }, 3));
      await controller.reconcile(`${NS}/team`);
      assert.equal((await condition('Degraded'))!.reason, 'InvalidMirror');
    });
  });

  describe('S3 storage and replicas', () => {
    const s3 = { bucket: 'team-images', endpoint: 'http://10.217.0.1:24000', credentialsSecretRef: { name: 's3-login' } };
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI-very-secret' };
    const s3Secret = (data: Record<string, string> = credentials) =>
      ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's3-login', namespace: NS }, stringData: data }) as KubernetesObject;
    const labels = { 'app.kubernetes.io/name': 'regop-registry', 'app.kubernetes.io/instance': 'team' };
    const runningPod = (name: string, ready: boolean) => client.put({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels },
      status: { phase: 'Running', podIP: `10.0.0.${name.length}`, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    } as KubernetesObject);
    const budget = () => get('policy/v1', 'PodDisruptionBudget', 'team');
    const autoscaler = () => get('autoscaling/v2', 'HorizontalPodAutoscaler', 'team');
    const setDeploymentStatus = async (replicas: number, ready: number, spec: Partial<V1Deployment['spec']> = {}) => {
      const current = (await deployment())!;
      client.put({
        ...current, spec: { ...current.spec!, ...spec },
        status: { replicas, readyReplicas: ready, updatedReplicas: replicas, observedGeneration: current.metadata!.generation ?? 0 },
      } as V1Deployment);
    };

    it('runs three replicas on the bucket: no claim, the credentials Secret mounted, a disruption budget while there are several', async () => {
      client.put(s3Secret());
      client.put(registryObject({ replicas: 3, storage: { s3 } }));
      await controller.reconcile(`${NS}/team`);
      assert.equal(await get('v1', 'PersistentVolumeClaim', 'team-data'), null, 'a bucket-backed Registry got a claim');
      const pod = (await deployment())!.spec!.template.spec!;
      assert.equal((await deployment())!.spec!.replicas, 3);
      assert.equal(pod.volumes!.find((v) => v.name === 's3-credentials')!.secret!.secretName, 's3-login');
      assert.equal(pod.topologySpreadConstraints!.length, 2);
      assert.ok(await budget());
      assert.equal(await autoscaler(), null);
      const config = (await get<KubernetesObject & { data: Record<string, string> }>('v1', 'ConfigMap', 'team-config'))!.data['registry.yaml']!;
      assert.match(config, /bucket: team-images/);
      await setDeploymentStatus(3, 3);
      await controller.reconcile(`${NS}/team`);
      assert.equal((await condition('Ready'))!.message, '3/3 replicas ready');

      const current = (await registry())!;
      client.put({ ...current, metadata: { ...current.metadata, generation: 2 }, spec: { ...current.spec, replicas: 1 } });
      await controller.reconcile(`${NS}/team`);
      assert.equal(await budget(), null, 'the budget outlived the replicas');
      assert.equal((await deployment())!.spec!.template.spec!.topologySpreadConstraints, undefined);
      const visible = JSON.stringify({ status: (await registry())!.status, events: events.events, config });
      for (const secret of Object.values(credentials)) assert.ok(!visible.includes(secret), 'a credential is visible');
    });

    it('rolls the pods when the bucket credentials change: the registry reads them at start', async () => {
      client.put(s3Secret());
      client.put(registryObject({ replicas: 2, storage: { s3 } }));
      await controller.reconcile(`${NS}/team`);
      const before = (await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION];
      await controller.reconcile(`${NS}/team`);
      assert.equal((await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION], before);
      client.put(s3Secret({ ...credentials, secretAccessKey: 'rotated-secret' }));
      await controller.reconcile(`${NS}/team`);
      assert.notEqual((await deployment())!.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION], before);
      assert.ok(events.events.some((e) => e.reason === 'RollingOut'));
    });

    it('reports a missing credentials Secret or key as Degraded with an Event and leaves the running registry alone', async () => {
      client.put(s3Secret());
      client.put(registryObject({ replicas: 3, storage: { s3 } }));
      await controller.reconcile(`${NS}/team`);
      await setDeploymentStatus(3, 3);
      await controller.reconcile(`${NS}/team`);
      const running = await deployment();

      client.put(registryObject({ replicas: 3, storage: { s3: { ...s3, credentialsSecretRef: { name: 'nope' } } } }, 2));
      assert.deepEqual(await controller.reconcile(`${NS}/team`), { requeueAfterMs: 30000 });
      const degraded = (await condition('Degraded'))!;
      assert.equal(degraded.reason, 'S3CredentialsNotFound');
      assert.equal(degraded.message, 'Secret nope (credentials of bucket team-images) not found');
      assert.equal((await condition('Ready'))!.status, 'True', 'a serving registry stays Ready');
      assert.ok(events.events.some((e) => e.type === 'Warning' && e.reason === 'S3CredentialsNotFound'));
      assert.deepEqual((await deployment())!.spec, running!.spec, 'the running Deployment was changed');

      client.put(s3Secret({ accessKeyId: 'AKIDEXAMPLE' }));
      client.put(registryObject({ replicas: 3, storage: { s3 } }, 3));
      await controller.reconcile(`${NS}/team`);
      assert.equal((await condition('Degraded'))!.reason, 'S3CredentialsKeyMissing');
      assert.match((await condition('Degraded'))!.message, /Secret s3-login \(credentials of bucket team-images\) has no key secretAccessKey/);
      assert.deepEqual((await deployment())!.spec, running!.spec);
    });

    it('reports spec combinations the schema refuses as Degraded when they reach it anyway, creating nothing', async () => {
      client.put(registryObject({ replicas: 3 }));
      await controller.reconcile(`${NS}/team`);
      const degraded = (await condition('Degraded'))!;
      assert.equal(degraded.reason, 'SharedStorageRequired');
      assert.match(degraded.message, /replicas 3 needs storage several pods can use at once/);
      assert.equal(await deployment(), null);
      assert.ok(events.events.some((e) => e.type === 'Warning' && e.reason === 'SharedStorageRequired'));

      client.put(s3Secret());
      client.put(registryObject({ storage: { s3: { ...s3, prefix: 'a//b' } } }, 2));
      await controller.reconcile(`${NS}/team`);
      assert.equal((await condition('Degraded'))!.reason, 'InvalidRegistryConfig');
      assert.match((await condition('Degraded'))!.message, /the registry would refuse this configuration: storage\.s3\.prefix/);
      assert.equal(await deployment(), null);
    });

    it('reports pods that cannot reach their bucket as Degraded, in the registry\'s own words', async () => {
      const unreachable = 'storage: bucket team-images at http://10.217.0.1:24000: NoSuchBucket';
      const asked: string[] = [];
      controller = new RegistryController({
        client, events, defaultImage: 'regop:dev',
        podReadiness: async (pod) => {
          asked.push(pod.name);
          return pod.name === 'team-new' ? { status: 503, body: `not ready\n${unreachable}\n` } : { status: 503, body: 'not ready\n' };
        },
      });
      client.put(s3Secret());
      client.put(registryObject({ replicas: 3, storage: { s3 } }));
      runningPod('team-ok', true);
      runningPod('team-new', false);
      runningPod('team-starting', false);
      await controller.reconcile(`${NS}/team`);
      const degraded = (await condition('Degraded'))!;
      assert.equal(degraded.status, 'True');
      assert.equal(degraded.reason, 'RegistryNotReady');
      assert.equal(degraded.message, `registry pods are not ready: pod team-new: ${unreachable}`);
      assert.ok(events.events.some((e) => e.type === 'Warning' && e.reason === 'RegistryNotReady' && e.message.includes('NoSuchBucket')));
      assert.deepEqual(asked.sort(), ['team-new', 'team-starting'], 'a ready pod was asked, or an unready one was not');

      runningPod('team-new', true);
      runningPod('team-starting', true);
      await setDeploymentStatus(3, 3);
      await controller.reconcile(`${NS}/team`);
      assert.equal((await condition('Degraded'))!.status, 'False');
      assert.equal((await condition('Ready'))!.status, 'True');
    });

    it('hands the replica count over to the autoscaler without resetting it, and takes it back', async () => {
      client.put(s3Secret());
      client.put(registryObject({ replicas: 3, storage: { s3 } }));
      await controller.reconcile(`${NS}/team`);
      // as the API server records it: the operator's apply owns spec.replicas
      const applied = (await deployment())!;
      client.put({
        ...applied,
        metadata: { ...applied.metadata, managedFields: [{ manager: 'regop-operator', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }] },
      } as V1Deployment);

      client.put(registryObject({ replicas: 3, autoscaling: { minReplicas: 2, maxReplicas: 5 }, storage: { s3 } }, 2));
      const from = client.applied.length;
      await controller.reconcile(`${NS}/team`);
      const deploymentApplies = client.applied.slice(from).filter((a) => a.manifest.kind === 'Deployment');
      assert.deepEqual(deploymentApplies.map((a) => [a.fieldManager, (a.manifest as V1Deployment).spec?.replicas]), [
        [REPLICAS_HANDOVER_MANAGER, 3],
        [undefined, undefined],
      ], 'the count must be kept under another manager before the operator stops applying it');
      const hpa = (await autoscaler()) as KubernetesObject & { spec: { minReplicas: number; maxReplicas: number } };
      assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [2, 5]);
      assert.ok(await budget());
      assert.equal((await deployment())!.spec!.template.spec!.containers[0]!.resources!.requests!.cpu, '250m');

      // the autoscaler picked 4: that is what Ready counts, and the operator neither hands over again nor applies a count
      await setDeploymentStatus(4, 4, { replicas: 4 });
      const again = client.applied.length;
      await controller.reconcile(`${NS}/team`);
      assert.equal((await condition('Ready'))!.message, '4/4 replicas ready');
      assert.ok(client.applied.slice(again).every((a) => a.fieldManager === undefined && (a.manifest as V1Deployment).spec?.replicas === undefined));

      client.put(registryObject({ replicas: 2, storage: { s3 } }, 3));
      await controller.reconcile(`${NS}/team`);
      assert.equal(await autoscaler(), null, 'the autoscaler outlived spec.autoscaling');
      assert.equal((await deployment())!.spec!.replicas, 2);
    });
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
