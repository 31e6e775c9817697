// The RetentionPolicy API (regop.dev/v1alpha1): tag retention and garbage collection for one Registry, run on a
// schedule as a CronJob. Its names and types; the types are derived from the TypeBox schemas in
// retention-policy.schema.ts, which also give the CRD its schema (`npm run generate`). `rules` is the registry's own
// retention policy format (registry/src/retention/policy.ts).
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { Static } from '@sinclair/typebox';
import type * as S from './retention-policy.schema.ts';

export const RETENTION_POLICY_KIND = 'RetentionPolicy';
export const RETENTION_POLICY_PLURAL = 'retentionpolicies';

export type RetentionPolicySpec = Static<typeof S.RetentionPolicySpecSchema>;
export type RetentionRunSummary = Static<typeof S.RetentionRunSummarySchema>;
export type RetentionPlanEntry = Static<typeof S.RetentionPlanEntrySchema>;
export type RetentionPolicyStatus = Static<typeof S.RetentionPolicyStatusSchema>;

export interface RetentionPolicy {
  apiVersion: 'regop.dev/v1alpha1';
  kind: typeof RETENTION_POLICY_KIND;
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: RetentionPolicySpec;
  status?: RetentionPolicyStatus;
}
