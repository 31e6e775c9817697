// What a maintenance Job's container (`regop-registry retention|backup ... --termination-log FILE`) leaves as its
// termination message, which the kubelet copies into the pod's status and the operator reads
// (operator/src/status/job-runs.ts) into RetentionPolicy.status and Registry.status.lastBackup. The registry's
// command line writes these types (cli.ts) and the operator reads them, so a field renamed on one side fails to
// compile on the other.
import type { BackupReport } from '../backup/backup.ts';
import type { PruneReport } from '../backup/prune.ts';
import type { GcReport } from '../gc/collector.ts';
import type { RetentionResult } from '../retention/executor.ts';

/** the kubelet keeps 4096 bytes of a termination message; a summary stays under this */
export const TERMINATION_MESSAGE_LIMIT = 4000;
/** tags named per repository in a retention summary's plan (the rest are counted in the full output only) */
export const PLAN_TAGS_PER_REPOSITORY = 50;

/** what `regop-registry retention` prints, and what the admin API's POST /admin/v1/retention answers */
export type RetentionOutput = RetentionResult & { gc?: GcReport };

/** one repository of a retention plan, cut down to what a status shows */
export interface RetentionPlanSummary {
  repository: string;
  /** the first PLAN_TAGS_PER_REPOSITORY tags it deletes (or would) */
  deleteTags: string[];
  deleteManifests: number;
}

/** a retention Job's summary: the counts, and the repositories the plan touches */
export type RetentionJobSummary = Omit<RetentionOutput, 'plan'> & {
  /** repositories that lose a tag or a manifest; absent when planTruncated */
  plan?: RetentionPlanSummary[];
  /** the plan did not fit in a termination message and was left out */
  planTruncated?: boolean;
};

/** a backup Job's summary: the report, with the pruned snapshots counted rather than named */
export type BackupJobSummary = Omit<BackupReport, 'pruned'> & {
  pruned?: Omit<PruneReport, 'snapshotsDeleted'> & { snapshotsDeleted: number };
};

/** the summary of a run that failed */
export interface JobFailure {
  /** the error, at most 1000 characters; never a credential (errors name files, not their content) */
  error: string;
}

/**
 * A summary as the operator reads it: any field may be missing (a Registry's Jobs may run another version of the
 * image than the operator's), and `error` is set when the run failed.
 */
export type JobSummaryMessage<Summary> = Partial<Summary> & Partial<JobFailure>;

export function retentionJobSummary(output: RetentionOutput): RetentionJobSummary {
  const plan = output.plan.repositories
    .filter((repository) => repository.deletedTags.length > 0 || repository.deletedManifests.length > 0)
    .map((repository): RetentionPlanSummary => ({
      repository: repository.name,
      deleteTags: repository.deletedTags.map((tag) => tag.tag).slice(0, PLAN_TAGS_PER_REPOSITORY),
      deleteManifests: repository.deletedManifests.length,
    }));
  return { ...output, plan };
}

/** a first prune of a long-kept backup may name hundreds of snapshots: they are counted */
export function backupJobSummary(report: BackupReport): BackupJobSummary {
  const { pruned, ...rest } = report;
  return { ...rest, ...(pruned ? { pruned: { ...pruned, snapshotsDeleted: pruned.snapshotsDeleted.length } } : {}) };
}

export function jobFailure(message: string): JobFailure {
  return { error: message.slice(0, 1000) };
}

/** The termination message of a summary: a retention plan that does not fit is left out and said to be. */
export function terminationMessage(summary: unknown): string {
  const text = JSON.stringify(summary);
  if (text.length <= TERMINATION_MESSAGE_LIMIT || typeof summary !== 'object' || summary === null || !('plan' in summary)) return text;
  return JSON.stringify({ ...summary, plan: undefined, planTruncated: true });
}
