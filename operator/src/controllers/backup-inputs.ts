// What a Registry's backups need before anything is applied: a schedule that parses, and the destination (the
// claim, or the bucket credentials' Secret and keys). Links of the same policy chain as registry-inputs.ts: the
// first problem is an InputError, reported as Degraded, so a running registry keeps serving as it was.
import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { s3CredentialKeys } from '../api/v1alpha1/storage.ts';
import type { ClusterClient } from '../kube/cluster-client.ts';
import { InputError, secretValue } from './registry-inputs.ts';
import { nextRun } from './schedule.ts';

export async function checkBackupInputs(client: ClusterClient, registry: Registry): Promise<void> {
  const backup = registry.spec.backup;
  if (!backup) return;
  const namespace = registry.metadata.namespace;
  if (!nextRun(backup.schedule, backup.timeZone, new Date())) {
    throw new InputError('InvalidBackupSchedule', `backup.schedule ${JSON.stringify(backup.schedule)} or backup.timeZone is not valid`);
  }
  const { s3, persistentVolumeClaim } = backup.destination;
  if (!s3 === !persistentVolumeClaim) {
    throw new InputError('InvalidBackupDestination', 'backup.destination needs exactly one of persistentVolumeClaim and s3');
  }
  if (persistentVolumeClaim) {
    const claim = await client.get({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name: persistentVolumeClaim.claimName });
    if (!claim) throw new InputError('BackupClaimNotFound', `PersistentVolumeClaim ${persistentVolumeClaim.claimName} (backup destination) not found`);
    return;
  }
  const name = s3!.credentialsSecretRef.name;
  const where = `Secret ${name} (credentials of backup bucket ${s3!.bucket})`;
  const secret = await client.get<V1Secret>({ apiVersion: 'v1', kind: 'Secret', namespace, name });
  if (!secret) throw new InputError('BackupCredentialsNotFound', `${where} not found`);
  const keys = s3CredentialKeys(s3!);
  const missing = [keys.accessKeyId, keys.secretAccessKey].filter((key) => !secretValue(secret, key));
  if (missing.length > 0) throw new InputError('BackupCredentialsKeyMissing', `${where} has no key ${missing.join(' and no key ')} (or it is empty)`);
}
