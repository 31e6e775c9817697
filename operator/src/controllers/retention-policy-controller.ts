// Reconciles a RetentionPolicy into a CronJob in its Registry's namespace and reports each run: the Job's
// container writes a JSON summary as its termination message, which lands in the pod's status.
import type { KubernetesObject, V1CronJob } from '@kubernetes/client-node';
import { API_VERSION, REGISTRY_KIND, type Registry } from '../api/v1alpha1/registry.ts';
import {
  RETENTION_POLICY_KIND, type RetentionPolicy, type RetentionPolicyStatus, type RetentionRunSummary,
} from '../api/v1alpha1/retention-policy.ts';
import { MANAGED_SELECTOR } from '../resources/names.ts';
import {
  buildRetentionCronJob, buildRulesConfigMap, RETENTION_CONTAINER, RETENTION_POLICY_LABEL,
} from '../resources/retention-cronjob.ts';
import type { ConditionUpdate } from '../status/conditions.ts';
import { latestJobRun, type JobRun } from '../status/job-runs.ts';
import type { ControllerDependencies } from './dependencies.ts';
import { Reconciler, type ReconcileResult } from './reconciler.ts';
import { nextRun } from './schedule.ts';
import type { JobSummaryMessage, RetentionJobSummary } from '../../../registry/src/contract/index.ts';

const MISSING_REGISTRY_RETRY_MS = 30_000;
const RUNNING_POLL_MS = 5_000;
const RESYNC_MS = 60_000;
export const MAX_PLAN_ENTRIES = 50;


/** what a retention Job's container leaves (`regop-registry retention --termination-log`), as the registry writes it */
type RunSummary = JobSummaryMessage<RetentionJobSummary>;

export class RetentionPolicyController extends Reconciler<RetentionPolicy, RetentionPolicyStatus> {
  constructor(dependencies: ControllerDependencies) {
    super(dependencies, { apiVersion: API_VERSION, kind: RETENTION_POLICY_KIND });
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const policy = await this.client.get<RetentionPolicy & KubernetesObject>(this.objectKey(namespace, name));
    if (!policy || policy.metadata.deletionTimestamp) return;

    const schedule = nextRun(policy.spec.schedule, policy.spec.timeZone, this.now());
    if (!schedule) {
      return this.report(policy, {}, [{ type: 'Ready', status: 'False', reason: 'InvalidSchedule', message: `schedule ${JSON.stringify(policy.spec.schedule)} or timeZone is not valid` }], 'InvalidSchedule');
    }
    const registry = await this.client.get<Registry & KubernetesObject>({ apiVersion: API_VERSION, kind: REGISTRY_KIND, namespace, name: policy.spec.registryRef.name });
    if (!registry) {
      await this.report(policy, {}, [{ type: 'Ready', status: 'False', reason: 'RegistryNotFound', message: `Registry ${policy.spec.registryRef.name} not found in ${namespace}` }], 'RegistryNotFound');
      return { requeueAfterMs: MISSING_REGISTRY_RETRY_MS };
    }
    if ((registry.spec.tls?.mode ?? 'SelfSigned') !== 'Disabled' && !registry.status?.caSecretName) {
      await this.report(policy, {}, [{ type: 'Ready', status: 'False', reason: 'RegistryNotReady', message: `waiting for Registry ${registry.metadata.name} to publish its CA` }]);
      return { requeueAfterMs: MISSING_REGISTRY_RETRY_MS };
    }

    await this.client.apply(buildRulesConfigMap(policy));
    await this.client.apply(buildRetentionCronJob(policy, registry, {
      image: registry.spec.image ?? this.defaultImage,
      ...(this.defaultImagePullPolicy ? { imagePullPolicy: this.defaultImagePullPolicy } : {}),
      ...(registry.status?.caSecretName ? { caSecretName: registry.status.caSecretName } : {}),
    }) as V1CronJob & KubernetesObject);

    const lastRun = await this.latestRun(policy);
    const fields: Partial<RetentionPolicyStatus> = { nextRun: schedule };
    if (lastRun) {
      fields.lastRun = lastRun.summary;
      if (lastRun.result) {
        const r = lastRun.result;
        Object.assign(fields, {
          tagsDeleted: r.dryRun ? 0 : r.tagsDeleted ?? 0,
          manifestsDeleted: r.dryRun ? 0 : r.manifestsDeleted ?? 0,
          blobsDeleted: r.dryRun ? 0 : r.gc?.blobsDeleted ?? 0,
          bytesFreed: r.dryRun ? 0 : r.gc?.bytesFreed ?? 0,
        });
        if (r.dryRun && r.plan) {
          fields.plan = r.plan.slice(0, MAX_PLAN_ENTRIES);
          fields.planTruncated = !!r.planTruncated || r.plan.length > MAX_PLAN_ENTRIES;
        }
      }
      this.announce(policy, lastRun.summary, lastRun.result);
    }
    const suspended = policy.spec.suspend === true;
    await this.report(policy, fields, [
      { type: 'Ready', status: 'True', reason: suspended ? 'Suspended' : 'Scheduled', message: suspended ? 'the CronJob is suspended' : `next run at ${schedule}` },
    ]);
    return { requeueAfterMs: lastRun?.summary.result === 'Running' ? RUNNING_POLL_MS : RESYNC_MS };
  }

  /** The newest Job of this policy and, once it finished, the summary its container left. */
  private latestRun(policy: RetentionPolicy): Promise<JobRun<RunSummary> | null> {
    return latestJobRun<RunSummary>(this.client, policy.metadata.namespace, `${MANAGED_SELECTOR},${RETENTION_POLICY_LABEL}=${policy.metadata.name}`, RETENTION_CONTAINER, 'retention');
  }

  /** one Event per finished Job: the Job name is remembered in status.lastRun */
  private announce(policy: RetentionPolicy, summary: RetentionRunSummary, result: RunSummary | undefined): void {
    if (summary.result === 'Running') return;
    const previous = policy.status?.lastRun;
    if (previous?.jobName === summary.jobName && previous.result === summary.result) return;
    if (summary.result === 'Failed') {
      this.events.warning(policy, 'RunFailed', `retention Job ${summary.jobName} failed${summary.message ? `: ${summary.message}` : ''}`);
      return;
    }
    const r = result ?? {};
    const what = r.dryRun
      ? `dry run: would delete ${(r.plan ?? []).reduce((n, e) => n + e.deleteTags.length, 0)} tags`
      : `deleted ${r.tagsDeleted ?? 0} tags, ${r.manifestsDeleted ?? 0} manifests, ${r.gc?.blobsDeleted ?? 0} blobs (${r.gc?.bytesFreed ?? 0} bytes)`;
    this.events.normal(policy, 'RunSucceeded', `retention Job ${summary.jobName}: ${what}`);
  }

  private async report(policy: RetentionPolicy, fields: Partial<RetentionPolicyStatus>, updates: ConditionUpdate[], warning?: string): Promise<void> {
    if (warning) this.events.warning(policy, warning, updates[0]!.message);
    await this.writeStatus(policy, fields, updates);
  }
}
