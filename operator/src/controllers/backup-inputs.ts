// What a Registry's backups need before anything is applied: a schedule that parses, and the destination (the
// claim, or the bucket credentials' Secret and keys). Links of the same policy chain as registry-inputs.ts: the
// first problem is an InputError, reported as Degraded, so a running registry keeps serving as it was.
import type { Registry } from '../api/v1alpha1/registry.ts';
import type { ClusterClient } from '../kube/cluster-client.ts';
import { InputError } from './registry-inputs.ts';
import { requireS3Credentials } from './s3-credentials.ts';
import { nextRun } from './schedule.ts';

/** @param now the reconciler's clock: the schedule must have a next run after it */
export async function checkBackupInputs(client: ClusterClient, registry: Registry, now: Date): Promise<void> {
  const backup = registry.spec.backup;
  if (!backup) return;
  const namespace = registry.metadata.namespace;
  if (!nextRun(backup.schedule, backup.timeZone, now)) {
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
  await requireS3Credentials(client, namespace, s3!, {
    bucket: 'backup bucket', reasons: { notFound: 'BackupCredentialsNotFound', keyMissing: 'BackupCredentialsKeyMissing' },
  });
}
