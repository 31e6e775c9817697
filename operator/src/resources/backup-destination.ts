// Where a Registry's backups go, as the registry pods see it: the destination claim mounted at
// BACKUP_MOUNTS.claim, or the bucket's credentials at BACKUP_MOUNTS.s3 and the bucket described for the admin API.
import type { V1Volume } from '@kubernetes/client-node';
import type { Registry, RegistryBackup } from '../api/v1alpha1/registry.ts';
import { s3CredentialKeys } from '../api/v1alpha1/storage.ts';
import { S3_CREDENTIAL_FILES, s3Config } from './registry-config.ts';

/** in the registry pods */
export const BACKUP_MOUNTS = { claim: '/var/lib/regop-backup', s3: '/etc/regop/backup-s3' } as const;

/** The destination as the registry's admin API takes it: paths are those of the registry pods' mounts. */
export function backupDestination(backup: RegistryBackup): Record<string, unknown> {
  const s3 = backup.destination.s3;
  return s3 ? { s3: s3Config(s3, BACKUP_MOUNTS.s3) } : { root: BACKUP_MOUNTS.claim };
}

/** the registry pods' volume for the destination (mounted at mountPath), or null without spec.backup */
export function backupVolume(registry: Registry): { volume: V1Volume; mountPath: string } | null {
  const destination = registry.spec.backup?.destination;
  if (!destination) return null;
  if (destination.s3) {
    const keys = s3CredentialKeys(destination.s3);
    return {
      mountPath: BACKUP_MOUNTS.s3,
      volume: {
        name: 'backup',
        secret: {
          secretName: destination.s3.credentialsSecretRef.name,
          items: [
            { key: keys.accessKeyId, path: S3_CREDENTIAL_FILES.accessKeyId },
            { key: keys.secretAccessKey, path: S3_CREDENTIAL_FILES.secretAccessKey },
          ],
        },
      },
    };
  }
  return { mountPath: BACKUP_MOUNTS.claim, volume: { name: 'backup', persistentVolumeClaim: { claimName: destination.persistentVolumeClaim!.claimName } } };
}
