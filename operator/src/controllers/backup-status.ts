// status.lastBackup of a Registry: the newest backup Job and, once it finished, what its summary says it copied;
// one Event per finished Job (BackupSucceeded, or BackupFailed as a Warning).
import type { BackupRunStatus, Registry } from '../api/v1alpha1/registry.ts';
import type { ClusterClient } from '../kube/cluster-client.ts';
import type { EventSink } from '../kube/event-sink.ts';
import { BACKUP_CONTAINER, BACKUP_LABEL } from '../resources/backup.ts';
import { MANAGED_SELECTOR } from '../resources/names.ts';
import { latestJobRun } from '../status/job-runs.ts';
import type { BackupJobSummary } from '../../../registry/src/contract/index.ts';

/** the fields of the registry's backup summary (`regop-registry backup --termination-log`) the status shows */
const REPORTED = ['snapshot', 'images', 'tags', 'blobsCopied', 'bytesCopied', 'bytesSkipped'] as const satisfies ReadonlyArray<keyof BackupJobSummary & keyof BackupRunStatus>;
type BackupReport = BackupJobSummary;

export async function lastBackup(client: ClusterClient, registry: Registry): Promise<BackupRunStatus | null> {
  const selector = `${MANAGED_SELECTOR},${BACKUP_LABEL}=${registry.metadata.name}`;
  const run = await latestJobRun<BackupReport>(client, registry.metadata.namespace, selector, BACKUP_CONTAINER, 'backup');
  if (!run) return null;
  const reported = REPORTED.flatMap((field) => (run.result?.[field] === undefined ? [] : [[field, run.result[field]]]));
  return { ...run.summary, ...Object.fromEntries(reported) };
}

export function announceBackup(events: EventSink, registry: Registry, current: BackupRunStatus): void {
  if (current.result === 'Running') return;
  const previous = registry.status?.lastBackup;
  if (previous?.jobName === current.jobName && previous.result === current.result) return;
  if (current.result === 'Failed') {
    events.warning(registry, 'BackupFailed', `backup Job ${current.jobName} failed${current.message ? `: ${current.message}` : ''}`);
    return;
  }
  events.normal(registry, 'BackupSucceeded', `backup Job ${current.jobName}: snapshot ${current.snapshot ?? '?'}, ${current.images ?? 0} images, `
    + `${current.blobsCopied ?? 0} blobs copied (${current.bytesCopied ?? 0} bytes), ${current.bytesSkipped ?? 0} bytes already there`);
}
