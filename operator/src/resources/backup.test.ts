import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import type { Registry, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { buildBackupCronJob, buildBackupDestinationConfigMap } from './backup.ts';
import { BACKUP_MOUNTS } from './backup-destination.ts';
import { buildDeployment } from './deployment.ts';

function registry(spec: RegistrySpec = {}): Registry {
  return { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'team', namespace: 'apps', uid: 'uid-1', generation: 1 }, spec };
}

const onClaim: RegistrySpec = { backup: { schedule: '0 3 * * *', keep: 7, destination: { persistentVolumeClaim: { claimName: 'team-backups' } } } };
const onBucket: RegistrySpec = {
  backup: {
    schedule: '0 3 * * *',
    destination: { s3: { bucket: 'backups', endpoint: 'http://s3.storage:9000', prefix: 'team', credentialsSecretRef: { name: 'backup-login' } } },
  },
};
const deploymentInputs = { image: 'regop:dev', inputsHash: 'abc', tlsSecretName: 'team-tls' };

describe('backup builders', () => {
  it('makes nothing without spec.backup', () => {
    assert.equal(buildBackupCronJob(registry(), { image: 'regop:dev' }), null);
    assert.equal(buildBackupDestinationConfigMap(registry()), null);
    assert.equal(buildDeployment(registry(), deploymentInputs).spec!.template.spec!.volumes!.some((v) => v.name === 'backup'), false);
  });

  it('asks the registry for a backup into the claim it mounts, keeping N snapshots, trusting its CA', () => {
    const job = buildBackupCronJob(registry(onClaim), { image: 'regop:dev', caSecretName: 'team-ca' })!;
    assert.equal(job.metadata!.name, 'team-backup');
    assert.equal(job.spec!.schedule, '0 3 * * *');
    assert.equal(job.spec!.concurrencyPolicy, 'Forbid');
    const pod = job.spec!.jobTemplate.spec!.template;
    assert.equal(pod.metadata!.labels!['regop.dev/backup'], 'team');
    assert.equal(pod.metadata!.labels!['app.kubernetes.io/managed-by'], 'regop', 'the Registry\'s NetworkPolicy admits regop\'s Jobs by this label');
    assert.notEqual(pod.metadata!.labels!['app.kubernetes.io/name'], 'regop-registry', 'the registry Service would select the Job\'s pod');
    const args = pod.spec!.containers[0]!.args!;
    assert.equal(args[0], 'backup');
    assert.equal(args[args.indexOf('--keep') + 1], '7');
    assert.equal(args[args.indexOf('--server') + 1], 'https://team.apps.svc:443');
    assert.ok(args.includes('--ca-file'));
    const destination = parse(buildBackupDestinationConfigMap(registry(onClaim))!.data!['destination.yaml']!);
    assert.deepEqual(destination, { root: BACKUP_MOUNTS.claim });

    const registryPod = buildDeployment(registry(onClaim), deploymentInputs).spec!.template.spec!;
    assert.equal(registryPod.volumes!.find((v) => v.name === 'backup')!.persistentVolumeClaim!.claimName, 'team-backups');
    assert.equal(registryPod.containers[0]!.volumeMounts!.find((m) => m.name === 'backup')!.mountPath, BACKUP_MOUNTS.claim);
  });

  it('describes a bucket destination with the credential files the registry pods mount, never the credentials', () => {
    const destination = parse(buildBackupDestinationConfigMap(registry(onBucket))!.data!['destination.yaml']!);
    assert.equal(destination.s3.bucket, 'backups');
    assert.equal(destination.s3.prefix, 'team');
    assert.equal(destination.s3.accessKeyFile, `${BACKUP_MOUNTS.s3}/access-key-id`);
    const registryPod = buildDeployment(registry(onBucket), deploymentInputs).spec!.template.spec!;
    const volume = registryPod.volumes!.find((v) => v.name === 'backup')!;
    assert.equal(volume.secret!.secretName, 'backup-login');
    assert.deepEqual(volume.secret!.items!.map((i) => i.key), ['accessKeyId', 'secretAccessKey']);
    const args = buildBackupCronJob(registry(onBucket), { image: 'regop:dev' })!.spec!.jobTemplate.spec!.template.spec!.containers[0]!.args!;
    assert.ok(!args.includes('--keep'), 'keep unset: every snapshot is kept');
  });
});
