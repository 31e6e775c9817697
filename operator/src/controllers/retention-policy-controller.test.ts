import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject, V1CronJob } from '@kubernetes/client-node';
import type { RetentionPolicy, RetentionPolicySpec } from '../api/v1alpha1/retention-policy.ts';
import { FakeClusterClient } from '../kube/fake-cluster-client.ts';
import type { EventSink } from '../kube/event-sink.ts';
import { MANAGED_BY_LABELS } from '../resources/names.ts';
import { RetentionPolicyController } from './retention-policy-controller.ts';
import { nextRun } from './schedule.ts';

const NS = 'apps';
const NOW = new Date('2026-03-01T10:00:00Z');

class Events implements EventSink {
  readonly list: Array<{ type: string; reason: string; message: string }> = [];
  normal(_o: KubernetesObject, reason: string, message: string) { this.list.push({ type: 'Normal', reason, message }); }
  warning(_o: KubernetesObject, reason: string, message: string) { this.list.push({ type: 'Warning', reason, message }); }
}

function policy(spec: Partial<RetentionPolicySpec> = {}): RetentionPolicy {
  return {
    apiVersion: 'regop.dev/v1alpha1', kind: 'RetentionPolicy',
    metadata: { name: 'nightly', namespace: NS, uid: 'p1', generation: 1 },
    spec: { registryRef: { name: 'team' }, schedule: '0 3 * * *', rules: { repositories: { include: ['**'] }, keep: { mostRecentlyPushed: 5 } }, ...spec },
  };
}

describe('RetentionPolicy controller', () => {
  let client: FakeClusterClient;
  let events: Events;
  let controller: RetentionPolicyController;
  const status = async () => (await client.get<RetentionPolicy & KubernetesObject>({ apiVersion: 'regop.dev/v1alpha1', kind: 'RetentionPolicy', namespace: NS, name: 'nightly' }))!.status!;
  const cronJob = () => client.get<V1CronJob>({ apiVersion: 'batch/v1', kind: 'CronJob', namespace: NS, name: 'nightly-retention' });
  const addRegistry = () => client.put({ apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'team', namespace: NS, uid: 'r1' }, spec: {}, status: { caSecretName: 'team-ca' } } as KubernetesObject);

  beforeEach(() => {
    client = new FakeClusterClient();
    events = new Events();
    controller = new RetentionPolicyController({ client, events, defaultImage: 'regop:dev', now: () => NOW });
  });

  it('reports a missing Registry with a condition and an Event, and retries', async () => {
    client.put(policy());
    assert.deepEqual(await controller.reconcile(`${NS}/nightly`), { requeueAfterMs: 30000 });
    const ready = (await status()).conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(ready.reason, 'RegistryNotFound');
    assert.ok(events.list.some((e) => e.type === 'Warning' && e.reason === 'RegistryNotFound'));
    assert.equal(await cronJob(), null);
  });

  it('builds a CronJob that runs retention with GC against the registry, and computes the next run', async () => {
    addRegistry();
    client.put(policy({ timeZone: 'Europe/Berlin', gc: { enabled: true, gracePeriod: '2h' } }));
    await controller.reconcile(`${NS}/nightly`);
    const job = (await cronJob())!;
    assert.equal(job.spec!.schedule, '0 3 * * *');
    assert.equal(job.spec!.timeZone, 'Europe/Berlin');
    assert.equal(job.spec!.concurrencyPolicy, 'Forbid');
    const container = job.spec!.jobTemplate.spec!.template.spec!.containers[0]!;
    assert.equal(container.args![0], 'retention');
    assert.equal(container.args![container.args!.indexOf('--server') + 1], 'https://team.apps.svc:443');
    assert.ok(container.args!.includes('--gc') && container.args!.includes('2h'));
    assert.ok(!container.args!.includes('--dry-run'));
    assert.equal((await status()).nextRun, '2026-03-02T02:00:00.000Z');
    assert.ok(await client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: NS, name: 'nightly-retention-rules' }));
  });

  it('reports a finished run from its termination message, once', async () => {
    addRegistry();
    client.put(policy());
    client.put({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'nightly-retention-1', namespace: NS, creationTimestamp: NOW, labels: { ...MANAGED_BY_LABELS, 'regop.dev/retention-policy': 'nightly' } }, status: { succeeded: 1, startTime: NOW, completionTime: NOW } } as KubernetesObject);
    const message = JSON.stringify({ dryRun: false, tagsDeleted: 4, manifestsDeleted: 3, gc: { blobsDeleted: 9, bytesFreed: 12345 } });
    client.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: NS, creationTimestamp: NOW, labels: { 'job-name': 'nightly-retention-1' } }, status: { containerStatuses: [{ name: 'retention', state: { terminated: { exitCode: 0, message } } }] } } as KubernetesObject);
    await controller.reconcile(`${NS}/nightly`);
    await controller.reconcile(`${NS}/nightly`);
    const s = await status();
    assert.deepEqual([s.tagsDeleted, s.manifestsDeleted, s.blobsDeleted, s.bytesFreed], [4, 3, 9, 12345]);
    assert.equal(s.lastRun!.result, 'Succeeded');
    assert.equal(events.list.filter((e) => e.reason === 'RunSucceeded').length, 1);
  });

  it('shows a dry run plan in status, bounded, and counts nothing as deleted', async () => {
    addRegistry();
    client.put(policy({ dryRun: true }));
    client.put({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'nightly-retention-2', namespace: NS, creationTimestamp: NOW, labels: { ...MANAGED_BY_LABELS, 'regop.dev/retention-policy': 'nightly' } }, status: { succeeded: 1 } } as KubernetesObject);
    const plan = Array.from({ length: 80 }, (_, i) => ({ repository: `r${i}`, deleteTags: ['old'], deleteManifests: 1 }));
    client.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p2', namespace: NS, creationTimestamp: NOW, labels: { 'job-name': 'nightly-retention-2' } }, status: { containerStatuses: [{ name: 'retention', state: { terminated: { exitCode: 0, message: JSON.stringify({ dryRun: true, tagsDeleted: 0, plan }) } } }] } } as KubernetesObject);
    await controller.reconcile(`${NS}/nightly`);
    const s = await status();
    assert.equal(s.plan!.length, 50);
    assert.equal(s.planTruncated, true);
    assert.equal(s.tagsDeleted, 0);
    assert.ok((await cronJob())!.spec!.jobTemplate.spec!.template.spec!.containers[0]!.args!.includes('--dry-run'));
  });

  it('computes next runs in the given time zone and rejects bad schedules', () => {
    assert.equal(nextRun('*/15 * * * *', undefined, NOW), '2026-03-01T10:15:00.000Z');
    assert.equal(nextRun('0 3 * * *', 'America/New_York', NOW), '2026-03-02T08:00:00.000Z');
    assert.equal(nextRun('not a cron', undefined, NOW), undefined);
  });
});
