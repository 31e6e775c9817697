import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Registry, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { FakeClusterClient } from '../kube/fake-cluster-client.ts';
import { checkBackupInputs } from './backup-inputs.ts';
import { InputError } from './registry-inputs.ts';
import { resolveStorageInputs } from './storage-inputs.ts';

const NS = 'apps';
const NOW = new Date('2026-03-01T10:00:00Z');

function registry(spec: RegistrySpec): Registry {
  return { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'team', namespace: NS }, spec };
}

function secret(name: string, stringData: Record<string, string>): KubernetesObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, stringData } as KubernetesObject;
}

async function refusal(promise: Promise<unknown>): Promise<{ reason: string; message: string }> {
  const error = await promise.then(() => null, (e: unknown) => e);
  assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
  return { reason: error.reason, message: error.message };
}

describe('a bucket\'s credentials Secret, for storage and for backups alike', () => {
  const bucket = { bucket: 'team-backups', endpoint: 'http://s3.example:9000', credentialsSecretRef: { name: 'backup-login' } };
  const backup = { schedule: '0 3 * * *', destination: { s3: bucket } } as RegistrySpec['backup'];

  it('reports a missing backup credentials Secret, then a missing key, under the backup reasons and naming no value', async () => {
    const client = new FakeClusterClient();
    assert.deepEqual(await refusal(checkBackupInputs(client, registry({ backup }), NOW)), {
      reason: 'BackupCredentialsNotFound', message: 'Secret backup-login (credentials of backup bucket team-backups) not found',
    });
    client.put(secret('backup-login', { accessKeyId: 'AKIDBACKUP', secretAccessKey: '' }));
    const missing = await refusal(checkBackupInputs(client, registry({ backup }), NOW));
    assert.equal(missing.reason, 'BackupCredentialsKeyMissing');
    assert.equal(missing.message, 'Secret backup-login (credentials of backup bucket team-backups) has no key secretAccessKey (or it is empty)');
    assert.doesNotMatch(missing.message, /AKIDBACKUP/);

    client.put(secret('backup-login', { accessKeyId: 'AKIDBACKUP', secretAccessKey: 'backup-secret' }));
    await checkBackupInputs(client, registry({ backup }), NOW);
  });

  it('reads the storage bucket\'s keys by the names the spec gives, and names both when both are missing', async () => {
    const client = new FakeClusterClient();
    const s3 = { bucket: 'team-images', credentialsSecretRef: { name: 'login', accessKeyIdKey: 'id', secretAccessKeyKey: 'key' } };
    client.put(secret('login', { accessKeyId: 'a', secretAccessKey: 'b' }));
    const missing = await refusal(resolveStorageInputs(client, registry({ storage: { s3 } } as RegistrySpec)));
    assert.deepEqual(missing, {
      reason: 'S3CredentialsKeyMissing', message: 'Secret login (credentials of bucket team-images) has no key id and no key key (or it is empty)',
    });
    client.put(secret('login', { id: 'AKID', key: 'shh' }));
    assert.deepEqual(await resolveStorageInputs(client, registry({ storage: { s3 } } as RegistrySpec)), { s3Credentials: { accessKeyId: 'AKID', secretAccessKey: 'shh' } });
  });

  it('judges the backup schedule on the reconciler\'s clock', async () => {
    const client = new FakeClusterClient();
    client.put({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'backups', namespace: NS } } as KubernetesObject);
    const claim = { schedule: '0 3 * * *', destination: { persistentVolumeClaim: { claimName: 'backups' } } } as RegistrySpec['backup'];
    await checkBackupInputs(client, registry({ backup: claim }), NOW);
    // a clock that cannot be read (an invalid date) gives no next run: the injected one is the one asked
    const refused = await refusal(checkBackupInputs(client, registry({ backup: claim }), new Date(Number.NaN)));
    assert.equal(refused.reason, 'InvalidBackupSchedule');
  });
});
