// The operator's side of the config file contract (registry/src/contract/config-file.ts): what it writes for
// realistic Registries is read by the registry's own parser, as the pods will read it, and says what the user
// asked for; every file it names is in a volume the registry container mounts, and its ports are the pod's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { buildConfig, parseListen, type RegistryConfig } from '../../../registry/src/config.ts';
import { parseLocation } from '../../../registry/src/backup/destination.ts';
import { REGISTRY_API_PORT, REGISTRY_CLI_PATH, REGISTRY_OPS_PORT } from '../../../registry/src/contract/index.ts';
import type { Registry, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { checkRegistryConfig } from '../controllers/config-check.ts';
import { InputError } from '../controllers/registry-inputs.ts';
import { backupDestination, BACKUP_MOUNTS } from './backup-destination.ts';
import { buildDeployment } from './deployment.ts';
import { buildConfigMap, MOUNTS } from './registry-config.ts';
import { buildService } from './service.ts';

function registry(spec: RegistrySpec): Registry {
  return { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'team', namespace: 'apps', uid: 'uid-1', generation: 1 }, spec };
}

const inputs = { image: 'regop:dev', inputsHash: 'abc', tlsSecretName: 'team-tls', mirrorsSecretName: 'team-mirrors' };

/** the config as a registry pod of this Registry reads it at start, after the operator's own check accepted it */
function asTheRegistryReadsIt(subject: Registry): RegistryConfig {
  assert.doesNotThrow(() => checkRegistryConfig(subject), 'the operator\'s pre-apply check accepts it');
  const text = buildConfigMap(subject).data!['registry.yaml']!;
  return buildConfig(parse(text));
}

function registryContainer(subject: Registry) {
  return buildDeployment(subject, inputs).spec!.template.spec!.containers[0]!;
}

/** every file the config names lies in a volume the registry container mounts */
function assertMounted(subject: Registry, files: Array<string | undefined>): void {
  const mounts = registryContainer(subject).volumeMounts!.map((mount) => mount.mountPath);
  for (const file of files) {
    assert.ok(file, 'a file the test expects the config to name');
    assert.ok(mounts.some((mount) => file.startsWith(`${mount}/`)), `${file} is under one of the mounts ${mounts.join(', ')}`);
  }
}

/** the files of a parsed config, whichever sections it has */
function filesNamed(config: RegistryConfig): Array<string | undefined> {
  return [
    config.storage.root && `${config.storage.root}/.`,
    config.storage.s3?.accessKeyFile, config.storage.s3?.secretKeyFile,
    config.auth.htpasswd, config.auth.access, config.tls?.cert, config.tls?.key, config.admin.tokenFile,
    ...config.mirrors.flatMap((mirror) => [mirror.credentialsFile, mirror.caFile]),
    ...config.notifications.endpoints.flatMap((endpoint) => Object.values(endpoint.headerFiles)),
  ].filter((file) => file !== undefined);
}

describe('the config file the operator writes, as the registry reads it', () => {
  it('a filesystem Registry: the API and ops ports are the pod\'s and the Service\'s, users, rules, TLS and the admin token are the mounted files', () => {
    const subject = registry({});
    const config = asTheRegistryReadsIt(subject);
    assert.equal(parseListen(config.listen).port, REGISTRY_API_PORT);
    assert.equal(parseListen(config.ops.listen!).port, REGISTRY_OPS_PORT);
    const container = registryContainer(subject);
    assert.deepEqual(container.ports!.map((port) => [port.name, port.containerPort]), [['api', REGISTRY_API_PORT], ['ops', REGISTRY_OPS_PORT]]);
    assert.equal(buildService(subject).spec!.ports!.find((port) => port.name === 'ops')!.port, REGISTRY_OPS_PORT);
    assert.deepEqual(container.command, ['node', REGISTRY_CLI_PATH]);
    assert.deepEqual(container.args, ['serve', '--config', `${MOUNTS.config}/registry.yaml`]);
    assert.equal(container.volumeMounts!.find((mount) => mount.mountPath === MOUNTS.config)!.name, 'config');

    assert.deepEqual({ root: config.storage.root, s3: config.storage.s3, shared: config.storage.shared }, { root: MOUNTS.data, s3: undefined, shared: false });
    assert.deepEqual([config.auth.htpasswd, config.auth.access], [`${MOUNTS.auth}/htpasswd`, `${MOUNTS.auth}/access.yaml`]);
    assert.equal(config.auth.anonymousPull, false, 'anonymous pull is the access file\'s to say, which the registry reloads');
    assert.deepEqual([config.tls?.cert, config.tls?.key], [`${MOUNTS.tls}/tls.crt`, `${MOUNTS.tls}/tls.key`]);
    assert.equal(config.admin.tokenFile, `${MOUNTS.admin}/token`);
    assert.deepEqual([config.mirrors, config.notifications.endpoints, config.audit.enabled, config.ui.enabled], [[], [], true, true]);
    assertMounted(subject, filesNamed(config));
  });

  it('TLS disabled: the registry serves plain HTTP', () => {
    assert.equal(asTheRegistryReadsIt(registry({ tls: { mode: 'Disabled' } })).tls, undefined);
  });

  it('three replicas on one ReadWriteMany volume share the storage', () => {
    const config = asTheRegistryReadsIt(registry({ replicas: 3, storage: { accessMode: 'ReadWriteMany' } }));
    assert.deepEqual([config.storage.root, config.storage.shared], [MOUNTS.data, true]);
  });

  it('three replicas on an S3 bucket: the bucket as given, shared, its keys read from the Secret\'s mounted files', () => {
    const subject = registry({
      replicas: 3,
      storage: {
        s3: {
          bucket: 'team-images', endpoint: 'http://minio.storage:9000', region: 'eu-central-1', prefix: 'registries/team',
          redirect: true, credentialsSecretRef: { name: 'team-s3' },
        },
      },
    });
    const config = asTheRegistryReadsIt(subject);
    assert.equal(config.storage.root, undefined);
    assert.equal(config.storage.shared, true);
    assert.deepEqual(config.storage.s3, {
      bucket: 'team-images', prefix: 'registries/team', endpoint: 'http://minio.storage:9000', region: 'eu-central-1',
      forcePathStyle: true, redirect: true,
      accessKeyFile: `${MOUNTS.s3}/access-key-id`, secretKeyFile: `${MOUNTS.s3}/secret-access-key`,
    });
    assertMounted(subject, filesNamed(config));
    const volume = buildDeployment(subject, inputs).spec!.template.spec!.volumes!.find((v) => v.name === 's3-credentials')!;
    assert.deepEqual(volume.secret!.items!.map((item) => `${MOUNTS.s3}/${item.path}`), [config.storage.s3!.accessKeyFile, config.storage.s3!.secretKeyFile]);
    assert.equal(registryContainer(subject).volumeMounts!.some((mount) => mount.mountPath === MOUNTS.data), false, 'no data volume with a bucket');
  });

  it('mirrors: each under its prefix, with its credentials and CA as mounted files, a TTL and a size cap in bytes', () => {
    const subject = registry({
      mirrors: [
        { registry: 'docker.io', upstream: 'https://registry-1.docker.io/', credentialsSecretRef: { name: 'hub-login' }, ca: { configMapKeyRef: { name: 'hub-ca' } }, tagTTL: '1h', maxSize: '10Gi' },
        { registry: 'ghcr.io', upstream: 'https://ghcr.io' },
      ],
    });
    const config = asTheRegistryReadsIt(subject);
    assert.deepEqual(config.mirrors, [
      {
        name: 'docker.io', upstream: 'https://registry-1.docker.io',
        credentialsFile: `${MOUNTS.mirrors}/docker.io.credentials`, caFile: `${MOUNTS.mirrors}/docker.io.ca.crt`,
        tagTtlMs: 3_600_000, timeoutMs: 30_000, maxSizeBytes: 10 * 2 ** 30,
      },
      { name: 'ghcr.io', upstream: 'https://ghcr.io', tagTtlMs: 300_000, timeoutMs: 30_000 },
    ]);
    assertMounted(subject, filesNamed(config));
  });

  it('audit off, two webhooks and a UI title: the registry gets each endpoint, Secret headers as mounted files', () => {
    const subject = registry({
      audit: { enabled: false },
      ui: { title: 'Team images' },
      notifications: {
        endpoints: [
          { name: 'ci', url: 'https://hooks.example/regop', headers: { 'X-Team': 'web' }, events: ['manifest.push', 'tag.delete'], timeout: '2s', retries: 1, queueSize: 10 },
          { name: 'siem', url: 'http://siem.logging:8080/in', headersFrom: [{ name: 'Authorization', secretKeyRef: { name: 'siem-token', key: 'header' } }] },
        ],
      },
    });
    const config = asTheRegistryReadsIt(subject);
    assert.equal(config.audit.enabled, false);
    assert.deepEqual(config.ui, { enabled: true, title: 'Team images' });
    const [ci, siem] = config.notifications.endpoints;
    assert.deepEqual(ci, {
      name: 'ci', url: 'https://hooks.example/regop', headers: { 'X-Team': 'web' }, headerFiles: {},
      events: ['manifest.push', 'tag.delete'], timeoutMs: 2000, retries: 1, queueSize: 10,
    });
    assert.deepEqual([siem!.name, siem!.headers, siem!.headerFiles, siem!.events, siem!.timeoutMs, siem!.retries], [
      'siem', {}, { Authorization: `${MOUNTS.notifications}/endpoint-1-header-0` }, null, 5000, 3,
    ]);
    assertMounted(subject, filesNamed(config));
  });

  it('a backup destination, a claim or a bucket, is read by the registry\'s location parser with files the pods mount', () => {
    const onClaim = registry({ backup: { schedule: '0 3 * * *', destination: { persistentVolumeClaim: { claimName: 'team-backups' } } } });
    assert.deepEqual(parseLocation(backupDestination(onClaim.spec.backup!)), { root: BACKUP_MOUNTS.claim });
    assertMounted(onClaim, [`${BACKUP_MOUNTS.claim}/.`]);

    const onBucket = registry({
      backup: { schedule: '0 3 * * *', destination: { s3: { bucket: 'backups', endpoint: 'http://s3.storage:9000', prefix: 'team', credentialsSecretRef: { name: 'backup-login' } } } },
    });
    const location = parseLocation(backupDestination(onBucket.spec.backup!));
    assert.deepEqual(location.s3, {
      bucket: 'backups', prefix: 'team', endpoint: 'http://s3.storage:9000', region: 'us-east-1', forcePathStyle: true, redirect: false,
      accessKeyFile: `${BACKUP_MOUNTS.s3}/access-key-id`, secretKeyFile: `${BACKUP_MOUNTS.s3}/secret-access-key`,
    });
    assertMounted(onBucket, [location.s3!.accessKeyFile, location.s3!.secretKeyFile]);
    // the registry's own config does not change with a backup: the pods are not rolled for it
    assert.deepEqual(asTheRegistryReadsIt(onBucket), asTheRegistryReadsIt(registry({})));
  });

  it('a spec the registry would refuse is caught before anything is applied, naming the key and no secret', () => {
    const subject = registry({ notifications: { endpoints: [{ name: 'ci', url: 'https://ci:s3cret@hooks.example/regop' }] } });
    assert.throws(() => checkRegistryConfig(subject), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.equal(error.reason, 'InvalidRegistryConfig');
      assert.match(error.message, /notifications\.endpoints\[0\]\.url must not hold credentials/);
      assert.doesNotMatch(error.message, /s3cret/);
      return true;
    });
  });
});
