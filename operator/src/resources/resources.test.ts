import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcrypt';
import { parse } from 'yaml';
import type { Registry, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { buildConfig } from '../../../registry/src/config.ts';
import { buildAuthSecret, hashesFor, parseHtpasswd } from './auth-secret.ts';
import { buildAutoscaler } from './autoscaler.ts';
import { buildCertificate } from './certificate.ts';
import { AUTOSCALED_CPU_REQUEST, buildDeployment, INPUTS_HASH_ANNOTATION } from './deployment.ts';
import { buildDisruptionBudget } from './disruption-budget.ts';
import { buildIngress } from './ingress.ts';
import { PULLER_USER, pullSecretHosts, registryHost, registryUrl, serviceHostnames, uiUrl } from './names.ts';
import { buildCaBundle, buildPullSecret } from './pull-secret.ts';
import { buildConfigMap } from './registry-config.ts';
import { buildService } from './service.ts';
import { buildClaim, claimName } from './storage-claim.ts';

function registry(spec: RegistrySpec = {}): Registry {
  return {
    apiVersion: 'regop.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name: 'team', namespace: 'apps', uid: 'uid-1', generation: 1 },
    spec,
  };
}

const inputs = { image: 'regop:dev', inputsHash: 'abc', tlsSecretName: 'team-tls' };

describe('registry config builder', () => {
  it('turns TLS on unless disabled, and leaves anonymous pull to the access file the registry reloads', () => {
    const on = parse(buildConfigMap(registry({ auth: { anonymousPull: true } })).data!['registry.yaml']!);
    assert.equal(on.tls.cert, '/etc/regop/tls/tls.crt');
    assert.equal(on.auth.anonymousPull, undefined);
    assert.equal(parse(buildAuthSecret(registry({ auth: { anonymousPull: true } }), []).stringData!['access.yaml']!).anonymousPull, true);
    assert.equal(on.ops.listen, '0.0.0.0:5001');
    const off = parse(buildConfigMap(registry({ tls: { mode: 'Disabled' } })).data!['registry.yaml']!);
    assert.equal(off.tls, undefined);
  });

  it('passes spec.ui to the registry, whose parser takes it, and names the UI in status.uiUrl unless it is off', () => {
    const titled = registry({ ui: { title: 'Team images' } });
    const config = buildConfig(parse(buildConfigMap(titled).data!['registry.yaml']!));
    assert.deepEqual([config.ui.enabled, config.ui.title], [true, 'Team images']);
    assert.equal(uiUrl(titled), 'https://team.apps.svc/ui/');
    const off = registry({ ui: { enabled: false } });
    assert.equal(buildConfig(parse(buildConfigMap(off).data!['registry.yaml']!)).ui.enabled, false);
    assert.equal(uiUrl(off), null);
    assert.equal(parse(buildConfigMap(registry()).data!['registry.yaml']!).ui, undefined, 'unset: the registry defaults it');
  });

  it('passes spec.audit and the webhooks to the registry, whose parser takes them, with Secret headers as mounted files', () => {
    const spec: RegistrySpec = {
      audit: { enabled: false },
      notifications: {
        endpoints: [
          { name: 'ci', url: 'https://hooks.example/regop', headers: { 'X-Team': 'web' }, events: ['manifest.push'], timeout: '2s', retries: 1, queueSize: 10 },
          { name: 'siem', url: 'http://siem.logging:8080/in', headersFrom: [{ name: 'Authorization', secretKeyRef: { name: 'siem-token', key: 'header' } }] },
        ],
      },
    };
    const text = buildConfigMap(registry(spec)).data!['registry.yaml']!;
    const config = buildConfig(parse(text));
    assert.equal(config.audit.enabled, false);
    const [ci, siem] = config.notifications.endpoints;
    assert.deepEqual([ci!.name, ci!.url, ci!.headers, ci!.events, ci!.timeoutMs, ci!.retries, ci!.queueSize],
      ['ci', 'https://hooks.example/regop', { 'X-Team': 'web' }, ['manifest.push'], 2000, 1, 10]);
    assert.deepEqual(siem!.headerFiles, { Authorization: '/etc/regop/notifications/endpoint-1-header-0' });
    assert.doesNotMatch(text, /siem-token/, 'the config names a Secret instead of a file');

    const pod = buildDeployment(registry(spec), inputs).spec!.template.spec!;
    const volume = pod.volumes!.find((v) => v.name === 'notifications')!;
    assert.deepEqual(volume.projected!.sources, [{ secret: { name: 'siem-token', items: [{ key: 'header', path: 'endpoint-1-header-0' }] } }]);
    assert.equal(pod.containers[0]!.volumeMounts!.find((m) => m.name === 'notifications')!.mountPath, '/etc/regop/notifications');
    assert.equal(buildDeployment(registry(), inputs).spec!.template.spec!.volumes!.some((v) => v.name === 'notifications'), false);
  });

  it('tells pods on a ReadWriteMany volume that they share the storage', () => {
    const alone = parse(buildConfigMap(registry()).data!['registry.yaml']!);
    assert.equal(alone.storage.shared, false);
    const shared = parse(buildConfigMap(registry({ replicas: 2, storage: { accessMode: 'ReadWriteMany' } })).data!['registry.yaml']!);
    assert.equal(shared.storage.shared, true);
  });
});

describe('auth secret builder', () => {
  it('keeps a bcrypt hash that still matches, and hashes a changed password anew', async () => {
    const first = await hashesFor([{ name: 'alice', password: 'one', access: [] }], new Map());
    const again = await hashesFor([{ name: 'alice', password: 'one', access: [] }], new Map([['alice', first[0]!.hash]]));
    assert.equal(again[0]!.hash, first[0]!.hash);
    const changed = await hashesFor([{ name: 'alice', password: 'two', access: [] }], new Map([['alice', first[0]!.hash]]));
    assert.notEqual(changed[0]!.hash, first[0]!.hash);
    assert.ok(bcrypt.compareSync('two', changed[0]!.hash));
  });

  it('renders htpasswd lines and access rules, with the pull-only user when pull secrets are copied', () => {
    const spec: RegistrySpec = {
      auth: { users: [{ name: 'ci', access: [{ repositories: ['ci/**'], actions: ['pull', 'push'] }] }, { name: 'admin' }] },
      pullSecret: { namespaces: ['web'] },
    };
    const secret = buildAuthSecret(registry(spec), [{ name: 'ci', hash: '$2y$h1' }, { name: 'admin', hash: '$2y$h2' }]);
    assert.deepEqual([...parseHtpasswd(secret.stringData!.htpasswd)], [['admin', '$2y$h2'], ['ci', '$2y$h1']]);
    const access = parse(secret.stringData!['access.yaml']!);
    assert.deepEqual(access.users.map((u: { user: string }) => u.user), ['ci', 'admin', PULLER_USER]);
    assert.deepEqual(access.users[1].rules, [{ repositories: ['**'], actions: ['pull', 'push', 'delete'] }]);
    assert.deepEqual(access.users[2].rules, [{ repositories: ['**'], actions: ['pull'] }]);
    assert.ok(!JSON.stringify(secret).includes('password'), 'no plain password in the auth Secret');
  });
});

describe('deployment builder', () => {
  it('recreates pods on a ReadWriteOnce volume and rolls them on a shared one', () => {
    assert.equal(buildDeployment(registry(), inputs).spec!.strategy!.type, 'Recreate');
    const shared = buildDeployment(registry({ replicas: 2, storage: { accessMode: 'ReadWriteMany' } }), inputs);
    assert.equal(shared.spec!.strategy!.type, 'RollingUpdate');
    assert.equal(shared.spec!.replicas, 2);
  });

  it('runs non-root with a read-only root filesystem, probes the ops port and stamps the inputs hash', () => {
    const deployment = buildDeployment(registry(), inputs);
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0]!;
    assert.equal(pod.securityContext!.runAsNonRoot, true);
    assert.equal(container.securityContext!.readOnlyRootFilesystem, true);
    assert.equal(container.readinessProbe!.httpGet!.port, 'ops');
    assert.equal(container.readinessProbe!.httpGet!.path, '/readyz');
    // a slow start on a busy node is not a dead process: liveness only begins once the start probe passed
    const startup = container.startupProbe!;
    assert.equal(startup.httpGet!.path, '/healthz');
    assert.ok(startup.periodSeconds! * startup.failureThreshold! >= 300, 'less than 5 minutes to start');
    assert.equal(deployment.spec!.template.metadata!.annotations![INPUTS_HASH_ANNOTATION], 'abc');
    assert.deepEqual(deployment.metadata!.ownerReferences!.map((o) => o.uid), ['uid-1']);
    assert.ok(pod.volumes!.some((v) => v.secret?.secretName === 'team-tls'));
    const plain = buildDeployment(registry({ tls: { mode: 'Disabled' } }), inputs).spec!.template.spec!;
    assert.ok(!plain.volumes!.some((v) => v.name === 'tls'));
  });
});

describe('service, claim, ingress and certificate builders', () => {
  it('exposes a nodePort only for NodePort services', () => {
    const nodePort = buildService(registry({ service: { type: 'NodePort', port: 443, nodePort: 30500 } }));
    assert.equal(nodePort.spec!.ports![0]!.nodePort, 30500);
    assert.equal(buildService(registry()).spec!.ports![0]!.nodePort, undefined);
    assert.equal(buildService(registry()).spec!.ports![0]!.port, 443);
  });

  it('owns the claim only when it should be deleted with the Registry, and uses an existing claim as is', () => {
    assert.equal(buildClaim(registry())!.metadata!.ownerReferences, undefined);
    assert.equal(buildClaim(registry({ storage: { reclaimPolicy: 'Delete' } }))!.metadata!.ownerReferences!.length, 1);
    assert.equal(buildClaim(registry({ storage: { existingClaim: 'mine' } })), null);
    assert.equal(claimName(registry({ storage: { existingClaim: 'mine' } })), 'mine');
    assert.equal(buildClaim(registry({ storage: { size: '5Gi' } }))!.spec!.resources!.requests!.storage, '5Gi');
  });

  it('builds an ingress and a cert-manager Certificate only when asked', () => {
    assert.equal(buildIngress(registry(), 'team-tls'), null);
    const ingress = buildIngress(registry({ ingress: { host: 'reg.example.test', className: 'nginx' } }), 'team-tls')!;
    assert.equal(ingress.spec!.rules![0]!.host, 'reg.example.test');
    assert.equal(buildCertificate(registry()), null);
    const certificate = buildCertificate(registry({ tls: { mode: 'CertManager', issuerRef: { name: 'ca' } } }))!;
    assert.equal(certificate.spec.secretName, 'team-tls');
  });

  it('names the Service DNS names and the ingress host in the certificate and URL', () => {
    assert.deepEqual(serviceHostnames(registry()), ['team', 'team.apps', 'team.apps.svc', 'team.apps.svc.cluster.local', 'localhost', '127.0.0.1']);
    assert.equal(registryUrl(registry()), 'https://team.apps.svc');
    assert.equal(registryHost(registry({ service: { port: 5443 } })), 'team.apps.svc:5443');
    assert.equal(registryUrl(registry({ ingress: { host: 'reg.example.test' } })), 'https://reg.example.test');
    assert.deepEqual(pullSecretHosts(registry({ service: { type: 'NodePort', nodePort: 30500 } })), ['team.apps.svc', '127.0.0.1:30500', 'localhost:30500']);
    assert.deepEqual(pullSecretHosts(registry()), ['team.apps.svc']);
  });
});

describe('pull secret copies', () => {
  it('writes a dockerconfigjson whose auth decodes to the pull-only credentials', () => {
    const secret = buildPullSecret(registry(), 'web', PULLER_USER, 's3cret', ['team.apps.svc']);
    assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
    assert.equal(secret.metadata!.namespace, 'web');
    const config = JSON.parse(secret.stringData!['.dockerconfigjson']!);
    assert.equal(Buffer.from(config.auths['team.apps.svc'].auth, 'base64').toString(), `${PULLER_USER}:s3cret`);
    assert.equal(buildCaBundle(registry(), 'web', 'PEM').data!['ca.crt'], 'PEM');
  });
});

describe('mirrors in the registry config', () => {
  it('serves each mirror under its host\'s prefix, with the mounted credentials and CA files and maxSize in bytes', () => {
    const spec: RegistrySpec = {
      mirrors: [
        { registry: 'docker.io', upstream: 'https://registry-1.docker.io/', credentialsSecretRef: { name: 'hub' }, maxSize: '10Gi' },
        { registry: '10.217.0.1:24443', upstream: 'https://10.217.0.1:24443', tagTTL: '1m', ca: { configMapKeyRef: { name: 'up' } } },
      ],
    };
    const config = parse(buildConfigMap(registry(spec)).data!['registry.yaml']!);
    assert.deepEqual(config.mirrors, [
      { name: 'docker.io', upstream: 'https://registry-1.docker.io', credentialsFile: '/etc/regop/mirrors/docker.io.credentials', tagTTL: '5m', maxSize: 10 * 2 ** 30 },
      { name: '10.217.0.1-24443', upstream: 'https://10.217.0.1:24443', caFile: '/etc/regop/mirrors/10.217.0.1-24443.ca.crt', tagTTL: '1m' },
    ]);
    assert.equal(parse(buildConfigMap(registry()).data!['registry.yaml']!).mirrors, undefined);
    const read = buildConfig(config).mirrors;
    assert.deepEqual(read.map((m) => [m.name, m.upstream, m.maxSizeBytes, m.tagTtlMs]), [
      ['docker.io', 'https://registry-1.docker.io', 10 * 2 ** 30, 300_000],
      ['10.217.0.1-24443', 'https://10.217.0.1:24443', undefined, 60_000],
    ]);
  });

  it('mounts the mirrors Secret only when there is one', () => {
    const mounts = (d: ReturnType<typeof buildDeployment>) => d.spec!.template.spec!.containers[0]!.volumeMounts!.map((m) => m.mountPath);
    assert.ok(mounts(buildDeployment(registry(), { ...inputs, mirrorsSecretName: 'team-mirrors' })).includes('/etc/regop/mirrors'));
    assert.ok(!mounts(buildDeployment(registry(), inputs)).includes('/etc/regop/mirrors'));
  });
});

describe('S3 storage and several replicas', () => {
  const s3 = { bucket: 'team-images', endpoint: 'http://10.217.0.1:24000', credentialsSecretRef: { name: 's3-login' } };
  const podSpec = (spec: RegistrySpec) => buildDeployment(registry(spec), inputs).spec!.template.spec!;

  it('points the registry at the bucket with the credentials as files, which the registry reads as a shared S3 store', () => {
    const text = buildConfigMap(registry({ storage: { s3: { ...s3, prefix: 'teams/a', region: 'eu-west-1', redirect: true } } })).data!['registry.yaml']!;
    const written = parse(text);
    assert.deepEqual(written.storage, {
      s3: {
        bucket: 'team-images', prefix: 'teams/a', endpoint: 'http://10.217.0.1:24000', region: 'eu-west-1', redirect: true,
        accessKeyFile: '/etc/regop/s3/access-key-id', secretKeyFile: '/etc/regop/s3/secret-access-key',
      },
    });
    const read = buildConfig(written).storage;
    assert.equal(read.root, undefined);
    assert.equal(read.shared, true);
    assert.deepEqual(read.s3, {
      bucket: 'team-images', prefix: 'teams/a', endpoint: 'http://10.217.0.1:24000', region: 'eu-west-1', forcePathStyle: true, redirect: true,
      accessKeyFile: '/etc/regop/s3/access-key-id', secretKeyFile: '/etc/regop/s3/secret-access-key',
    });
    assert.ok(!text.includes('s3-login'), 'the config names files, not the Secret');
  });

  it('mounts two keys of the credentials Secret instead of a claim, and makes no claim', () => {
    const pod = podSpec({ storage: { s3: { ...s3, credentialsSecretRef: { name: 's3-login', accessKeyIdKey: 'AWS_ACCESS_KEY_ID', secretAccessKeyKey: 'AWS_SECRET_ACCESS_KEY' } } } });
    assert.ok(!pod.volumes!.some((v) => v.persistentVolumeClaim), 'a bucket-backed pod mounts no claim');
    assert.deepEqual(pod.volumes!.find((v) => v.name === 's3-credentials')!.secret, {
      secretName: 's3-login',
      items: [{ key: 'AWS_ACCESS_KEY_ID', path: 'access-key-id' }, { key: 'AWS_SECRET_ACCESS_KEY', path: 'secret-access-key' }],
    });
    const container = pod.containers[0]!;
    assert.ok(container.volumeMounts!.some((m) => m.mountPath === '/etc/regop/s3' && m.readOnly));
    assert.ok(!container.volumeMounts!.some((m) => m.mountPath === '/var/lib/regop'));
    assert.equal(container.env, undefined, 'credentials never go through the environment');
    assert.equal(buildClaim(registry({ storage: { s3 } })), null);
  });

  it('rolls pods on shared storage one extra at a time, a leaving pod serving until its endpoint is gone', () => {
    for (const storage of [{ s3 }, { accessMode: 'ReadWriteMany' as const }]) {
      const deployment = buildDeployment(registry({ replicas: 3, storage }), inputs);
      assert.deepEqual(deployment.spec!.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
      assert.ok(deployment.spec!.template.spec!.containers[0]!.lifecycle!.preStop!.sleep!.seconds > 0);
    }
    assert.equal(podSpec({}).containers[0]!.lifecycle, undefined, 'Recreate needs no grace for endpoints: the old pod is gone first');
  });

  it('spreads several replicas over nodes and zones without ever leaving one unscheduled', () => {
    const spread = podSpec({ replicas: 3, storage: { s3 } }).topologySpreadConstraints!;
    assert.deepEqual(spread.map((c) => [c.topologyKey, c.whenUnsatisfiable, c.maxSkew]), [
      ['kubernetes.io/hostname', 'ScheduleAnyway', 1],
      ['topology.kubernetes.io/zone', 'ScheduleAnyway', 1],
    ]);
    assert.deepEqual(spread[0]!.labelSelector!.matchLabels, { 'app.kubernetes.io/name': 'regop-registry', 'app.kubernetes.io/instance': 'team' });
    assert.equal(podSpec({ storage: { s3 } }).topologySpreadConstraints, undefined, 'one pod: the template stays as it was');
  });

  it('gives several replicas a disruption budget of one pod, and one replica none', () => {
    const budget = buildDisruptionBudget(registry({ replicas: 3, storage: { s3 } }))!;
    assert.equal(budget.spec!.maxUnavailable, 1);
    assert.equal(budget.spec!.minAvailable, undefined);
    assert.equal(budget.spec!.unhealthyPodEvictionPolicy, 'AlwaysAllow');
    assert.deepEqual(budget.metadata!.ownerReferences!.map((o) => o.uid), ['uid-1']);
    assert.equal(buildDisruptionBudget(registry({ storage: { s3 } })), null);
    assert.equal(buildDisruptionBudget(registry({ autoscaling: { maxReplicas: 1 }, storage: { s3 } })), null);
    assert.ok(buildDisruptionBudget(registry({ autoscaling: { minReplicas: 1, maxReplicas: 4 }, storage: { s3 } })));
  });

  it('leaves the replica count to the autoscaler, whose pods always request CPU', () => {
    const spec: RegistrySpec = { replicas: 1, autoscaling: { minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 70 }, storage: { s3 } };
    const deployment = buildDeployment(registry(spec), inputs);
    assert.equal(deployment.spec!.replicas, undefined, 'an applied count would undo the autoscaler');
    assert.deepEqual(deployment.spec!.template.spec!.containers[0]!.resources, { requests: { cpu: AUTOSCALED_CPU_REQUEST } });
    const own = buildDeployment(registry({ ...spec, resources: { requests: { cpu: '1', memory: '256Mi' } } }), inputs);
    assert.deepEqual(own.spec!.template.spec!.containers[0]!.resources, { requests: { cpu: '1', memory: '256Mi' } });
    const limited = buildDeployment(registry({ ...spec, resources: { limits: { cpu: '2' } } }), inputs);
    assert.deepEqual(limited.spec!.template.spec!.containers[0]!.resources, { limits: { cpu: '2' } }, 'the limit becomes the request');
    assert.equal(buildDeployment(registry({ replicas: 2, storage: { s3 } }), inputs).spec!.template.spec!.containers[0]!.resources, undefined);

    const autoscaler = buildAutoscaler(registry(spec))!;
    assert.equal(autoscaler.apiVersion, 'autoscaling/v2');
    assert.deepEqual(autoscaler.spec!.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'team' });
    assert.equal(autoscaler.spec!.minReplicas, 2);
    assert.equal(autoscaler.spec!.maxReplicas, 6);
    assert.equal(autoscaler.spec!.metrics![0]!.resource!.target.averageUtilization, 70);
    assert.equal(buildAutoscaler(registry({ autoscaling: { maxReplicas: 3 }, storage: { s3 } }))!.spec!.metrics![0]!.resource!.target.averageUtilization, 80);
    assert.equal(buildAutoscaler(registry({ replicas: 3, storage: { s3 } })), null);
  });
});
