import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { parse } from 'yaml';
import type { Registry, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { buildConfig } from '../../../registry/src/config.ts';
import { buildAuthSecret, hashesFor, parseHtpasswd } from './auth-secret.ts';
import { buildCertificate } from './certificate.ts';
import { buildDeployment, INPUTS_HASH_ANNOTATION } from './deployment.ts';
import { buildIngress } from './ingress.ts';
import { PULLER_USER, pullSecretHosts, registryHost, registryUrl, serviceHostnames } from './names.ts';
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
