// A Registry's scheduled backups (spec.backup): a CronJob `<registry>-backup` whose Job asks the registry's
// maintenance API for a backup of the destination described in a ConfigMap the Job sends (backup-destination.ts
// mounts it into the registry pods). The registry copies (it holds garbage collection off while it does); the Job
// only asks and reports.
import type { V1ConfigMap, V1CronJob } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { Registry, RegistryBackup } from '../api/v1alpha1/registry.ts';
import { backupDestination } from './backup-destination.ts';
import { buildMaintenanceCronJob } from './maintenance-job.ts';
import { childMetadata, commonLabels, tlsEnabled } from './names.ts';

/** on the backup Jobs and their pods: the Registry they back up */
export const BACKUP_LABEL = 'regop.dev/backup';
export const BACKUP_CONTAINER = 'backup';
/** in the Job's pod: the destination as the registry reads it */
const DESTINATION_DIR = '/etc/regop/backup';
/** a run may take this long: a first backup of a large registry copies every blob */
const BACKUP_DEADLINE_SECONDS = 6 * 3600;

export function backupNames(registryName: string) {
  return { cronJob: `${registryName}-backup`, destination: `${registryName}-backup` };
}

function backupLabels(registry: Registry): Record<string, string> {
  return { ...commonLabels(registry), 'app.kubernetes.io/name': 'regop-backup', [BACKUP_LABEL]: registry.metadata.name };
}

/** the destination the Job sends, as a file: null when the Registry takes no backups */
export function buildBackupDestinationConfigMap(registry: Registry): V1ConfigMap | null {
  const backup = registry.spec.backup;
  if (!backup) return null;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMetadata(registry, backupNames(registry.metadata.name).destination),
    data: { 'destination.yaml': stringify(backupDestination(backup)) },
  };
}

export interface BackupCronJobInputs {
  image: string;
  imagePullPolicy?: string;
  /** the Secret with the registry's CA (ca.crt), when it serves TLS */
  caSecretName?: string;
}

/** null when the Registry takes no backups */
export function buildBackupCronJob(registry: Registry, inputs: BackupCronJobInputs): V1CronJob | null {
  const backup = registry.spec.backup;
  if (!backup) return null;
  const names = backupNames(registry.metadata.name);
  const caSecretName = tlsEnabled(registry) ? inputs.caSecretName : undefined;
  return buildMaintenanceCronJob(registry, {
    metadata: { ...childMetadata(registry, names.cronJob), labels: backupLabels(registry) },
    labels: backupLabels(registry),
    schedule: backup.schedule,
    ...(backup.timeZone ? { timeZone: backup.timeZone } : {}),
    suspend: backup.suspend ?? false,
    activeDeadlineSeconds: BACKUP_DEADLINE_SECONDS,
    container: BACKUP_CONTAINER,
    image: inputs.image,
    ...(inputs.imagePullPolicy ? { imagePullPolicy: inputs.imagePullPolicy } : {}),
    args: ['backup', '--to-config', `${DESTINATION_DIR}/destination.yaml`, ...(backup.keep ? ['--keep', String(backup.keep)] : [])],
    ...(caSecretName ? { caSecretName } : {}),
    volumeMounts: [{ name: 'destination', mountPath: DESTINATION_DIR, readOnly: true }],
    volumes: [{ name: 'destination', configMap: { name: names.destination } }],
  });
}

/** the user-visible reference to the destination, for messages */
export function describeBackupDestination(backup: RegistryBackup): string {
  const { s3, persistentVolumeClaim } = backup.destination;
  return s3 ? `bucket ${s3.bucket}` : `claim ${persistentVolumeClaim?.claimName}`;
}

