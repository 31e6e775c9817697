// The last run of a CronJob-driven task (retention, backup): the newest Job with the task's label and, once it
// finished, the JSON summary its container wrote as the termination message (`regop-registry ... --termination-log`),
// which the kubelet copies into the pod's status. The summaries' types are the registry's contract
// (registry/src/contract/job-summary.ts: RetentionJobSummary, BackupJobSummary, read as JobSummaryMessage).
import type { KubernetesObject, V1Job, V1Pod } from '@kubernetes/client-node';
import type { JobRunSummary } from '../api/v1alpha1/job-run.ts';
import type { ClusterClient } from '../kube/cluster-client.ts';
import type { JobSummaryMessage } from '../../../registry/src/contract/index.ts';

export type { JobRunSummary };

export interface JobRun<Result> {
  summary: JobRunSummary;
  /** the container's summary, when it finished and left one that parses */
  result?: Result;
}

function isoTime(value: Date | string | undefined): string | undefined {
  return value === undefined ? undefined : new Date(value).toISOString();
}

const newestFirst = (a: KubernetesObject, b: KubernetesObject) =>
  new Date(b.metadata!.creationTimestamp!).getTime() - new Date(a.metadata!.creationTimestamp!).getTime();

/**
 * `Summary` is the contract's type of the task's summary; what is read is a JobSummaryMessage of it (any field may
 * be missing). `what` names the task in the message of a failure that left no summary ("the backup Job failed; ...").
 */
export async function latestJobRun<Summary>(
  client: ClusterClient, namespace: string, labelSelector: string, container: string, what: string,
): Promise<JobRun<JobSummaryMessage<Summary>> | null> {
  type Result = JobSummaryMessage<Summary>;
  const jobs = await client.list<V1Job & KubernetesObject>('batch/v1', 'Job', namespace, labelSelector);
  if (jobs.length === 0) return null;
  const job = jobs.sort(newestFirst)[0]!;
  const succeeded = (job.status?.succeeded ?? 0) > 0;
  const failed = (job.status?.conditions ?? []).some((c) => c.type === 'Failed' && c.status === 'True');
  const summary: JobRunSummary = {
    jobName: job.metadata!.name!,
    result: succeeded ? 'Succeeded' : failed ? 'Failed' : 'Running',
    ...(job.status?.startTime ? { startTime: isoTime(job.status.startTime)! } : {}),
    ...(job.status?.completionTime ? { completionTime: isoTime(job.status.completionTime)! } : {}),
  };
  if (summary.result === 'Running') return { summary };
  const pods = await client.list<V1Pod & KubernetesObject>('v1', 'Pod', namespace, `job-name=${job.metadata!.name}`);
  const messages = pods
    .sort(newestFirst)
    .map((pod) => pod.status?.containerStatuses?.find((c) => c.name === container)?.state?.terminated?.message)
    .filter((message): message is string => !!message);
  let result: Result | undefined;
  try {
    result = messages[0] ? JSON.parse(messages[0]) as Result : undefined;
  } catch {
    result = undefined;
  }
  if (result?.error) summary.message = result.error.slice(0, 500);
  else if (failed) summary.message = `the ${what} Job failed; see its pod logs`;
  return { summary, ...(result ? { result } : {}) };
}
