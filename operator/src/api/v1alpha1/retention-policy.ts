// The RetentionPolicy API (regop.dev/v1alpha1): tag retention and garbage collection for one Registry, run on a
// schedule as a CronJob. `rules` is the registry's own retention policy format (registry/src/retention/policy.ts).
import type { V1Condition, V1ObjectMeta } from '@kubernetes/client-node';
import type { JobRunSummary } from './job-run.ts';
import type { RetentionRules } from '../../../../registry/src/retention/policy.ts';

export const RETENTION_POLICY_KIND = 'RetentionPolicy';
export const RETENTION_POLICY_PLURAL = 'retentionpolicies';

export interface RetentionPolicySpec {
  registryRef: { name: string };
  schedule: string;
  timeZone?: string;
  rules: RetentionRules;
  dryRun?: boolean;
  gc?: { enabled?: boolean; gracePeriod?: string };
  suspend?: boolean;
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
}

export type RetentionRunSummary = JobRunSummary;

export interface RetentionPlanEntry {
  repository: string;
  deleteTags: string[];
  deleteManifests: number;
}

export interface RetentionPolicyStatus {
  observedGeneration?: number;
  conditions?: V1Condition[];
  lastRun?: RetentionRunSummary;
  nextRun?: string;
  tagsDeleted?: number;
  manifestsDeleted?: number;
  blobsDeleted?: number;
  bytesFreed?: number;
  /** for a dry run: what would go, bounded */
  plan?: RetentionPlanEntry[];
  planTruncated?: boolean;
}

export interface RetentionPolicy {
  apiVersion: 'regop.dev/v1alpha1';
  kind: typeof RETENTION_POLICY_KIND;
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: RetentionPolicySpec;
  status?: RetentionPolicyStatus;
}
