// The operator's side of the Job summary contract (registry/src/contract/job-summary.ts): what the registry's
// command line writes as a termination message is what the operator reads back from the pod's status.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { BackupReport } from '../../../registry/src/backup/backup.ts';
import {
  backupJobSummary, jobFailure, retentionJobSummary, terminationMessage, type RetentionJobSummary, type RetentionOutput,
} from '../../../registry/src/contract/index.ts';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { lastBackup } from '../controllers/backup-status.ts';
import { FakeClusterClient } from '../kube/fake-cluster-client.ts';
import { BACKUP_CONTAINER, BACKUP_LABEL } from '../resources/backup.ts';
import { MANAGED_BY_LABELS } from '../resources/names.ts';
import { latestJobRun } from './job-runs.ts';

const NS = 'apps';
const STARTED = '2026-06-01T03:00:00.000Z';
const FINISHED = '2026-06-01T03:00:42.000Z';

/** a finished Job of the task with its pod, whose container left `message` as the kubelet records it */
function finishedJob(client: FakeClusterClient, name: string, labels: Record<string, string>, container: string, message: string, failed = false): void {
  client.put({
    apiVersion: 'batch/v1', kind: 'Job',
    metadata: { name, namespace: NS, creationTimestamp: STARTED as unknown as Date, labels: { ...MANAGED_BY_LABELS, ...labels } },
    status: failed
      ? { startTime: STARTED, conditions: [{ type: 'Failed', status: 'True' }] }
      : { succeeded: 1, startTime: STARTED, completionTime: FINISHED },
  } as KubernetesObject);
  client.put({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `${name}-pod`, namespace: NS, creationTimestamp: STARTED as unknown as Date, labels: { 'job-name': name } },
    status: { containerStatuses: [{ name: container, state: { terminated: { exitCode: failed ? 1 : 0, message } } }] },
  } as KubernetesObject);
}

const retention: RetentionOutput = {
  dryRun: false,
  plan: {
    repositories: [{
      name: 'team/app',
      keptTags: [{ tag: 'v2', digest: 'sha256:2', reasons: ['mostRecentlyPushed'] }],
      deletedTags: [{ tag: 'v1', digest: 'sha256:1', reasons: [] }],
      deletedManifests: [{ digest: 'sha256:1', reason: 'untagged by this run' }],
    }],
    tagsKept: 1, tagsDeleted: 1, manifestsDeleted: 1,
  },
  tagsDeleted: 1,
  manifestsDeleted: 1,
  gc: {
    dryRun: false, startedAt: STARTED, durationMs: 900, repositories: 1, manifests: 1, blobsMarked: 2, blobsScanned: 5,
    blobsDeleted: 3, bytesFreed: 4096, keptYoung: 0, keptProtected: 0, linksRemoved: 1, uploadsPurged: 0,
  },
};

describe('Job summaries, written by the registry and read by the operator', () => {
  it('a retention Job\'s summary reads back whole, with the Job\'s times', async () => {
    const client = new FakeClusterClient();
    finishedJob(client, 'nightly-1', { 'regop.dev/retention-policy': 'nightly' }, 'retention', terminationMessage(retentionJobSummary(retention)));
    const run = await latestJobRun<RetentionJobSummary>(client, NS, 'regop.dev/retention-policy=nightly', 'retention', 'retention');
    assert.deepEqual(run!.summary, { jobName: 'nightly-1', result: 'Succeeded', startTime: STARTED, completionTime: FINISHED });
    assert.deepEqual(run!.result, retentionJobSummary(retention));
    assert.deepEqual(run!.result!.plan, [{ repository: 'team/app', deleteTags: ['v1'], deleteManifests: 1 }]);
  });

  it('a failed run\'s error becomes the run\'s message', async () => {
    const client = new FakeClusterClient();
    finishedJob(client, 'nightly-2', { 'regop.dev/retention-policy': 'nightly' }, 'retention',
      terminationMessage(jobFailure('/admin/v1/retention answered 400: invalid retention rules')), true);
    const run = await latestJobRun<RetentionJobSummary>(client, NS, 'regop.dev/retention-policy=nightly', 'retention', 'retention');
    assert.deepEqual([run!.summary.result, run!.summary.message], ['Failed', '/admin/v1/retention answered 400: invalid retention rules']);
  });

  it('a backup Job\'s summary becomes status.lastBackup', async () => {
    const client = new FakeClusterClient();
    const report: BackupReport = {
      snapshot: '20260601T030000Z', destination: '/var/lib/regop-backup', startedAt: STARTED, durationMs: 42_000, repositories: 2, images: 6, tags: 4,
      blobsCopied: 10, bytesCopied: 2_000_000, blobsSkipped: 5, bytesSkipped: 700_000, tagsLeftOut: 0, mirrorRepositoriesSkipped: 0,
      pruned: { snapshotsKept: 7, snapshotsDeleted: ['20260520T030000Z'], blobsDeleted: 2, bytesFreed: 1000, temporariesRemoved: 0 },
    };
    finishedJob(client, 'team-backup-1', { [BACKUP_LABEL]: 'team' }, BACKUP_CONTAINER, terminationMessage(backupJobSummary(report)));
    const registry = { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'team', namespace: NS }, spec: {} } as Registry;
    assert.deepEqual(await lastBackup(client, registry), {
      jobName: 'team-backup-1', result: 'Succeeded', startTime: STARTED, completionTime: FINISHED,
      snapshot: '20260601T030000Z', images: 6, tags: 4, blobsCopied: 10, bytesCopied: 2_000_000, bytesSkipped: 700_000,
    });
  });
});
