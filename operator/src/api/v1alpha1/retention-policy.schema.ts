// The RetentionPolicy API's definition, as registry.schema.ts is the Registry's: TypeBox schemas that are the types
// retention-policy.ts exports and the CRD's schema (crds/regop.dev_retentionpolicies.yaml, written by `npm run
// generate`). `rules` is the registry's own retention policy format (registry/src/retention/policy.ts): the type
// check below fails when the two part. Only the generator and tests load this module.
import type { V1Condition } from '@kubernetes/client-node';
import { Type, type Static } from '@sinclair/typebox';
import type { RetentionRules } from '../../../../registry/src/retention/policy.ts';
import { ConditionsSchema, Typed, type CustomResourceSource } from '../schema.ts';
import { JobRunSummarySchema } from './job-run.schema.ts';
import { GROUP, VERSION } from './registry.ts';
import { RETENTION_POLICY_KIND, RETENTION_POLICY_PLURAL } from './retention-policy.ts';

const WITHIN_PATTERN = '^[0-9]+(ms|s|m|h|d|w|y)$';

export const KeepRulesSchema = Type.Object({
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1 }), {
    description: 'Anchored globs on tag names: v* keeps v1 and v2.0, not release-v1.',
  })),
  mostRecentlyPushed: Type.Optional(Type.Integer({
    minimum: 0, description: 'Keep the N tags pushed most recently (equal times: by tag name).',
  })),
  mostRecentlyPulled: Type.Optional(Type.Integer({
    minimum: 0, description: 'Keep the N tags pulled most recently (tags never pulled do not count).',
  })),
  pushedWithin: Type.Optional(Type.String({ pattern: WITHIN_PATTERN, description: 'Keep tags pushed within this long: a duration such as 30d.' })),
  pulledWithin: Type.Optional(Type.String({ pattern: WITHIN_PATTERN, description: 'Keep tags pulled within this long: a duration such as 30d.' })),
}, {
  description: 'Which tags stay: a tag is kept if any rule holds, every other tag in a selected repository is deleted. '
    + 'At least one rule is needed.',
  'x-kubernetes-validations': [
    {
      rule: 'has(self.tags) || has(self.mostRecentlyPushed) || has(self.mostRecentlyPulled) || has(self.pushedWithin) || has(self.pulledWithin)',
      message: 'keep needs at least one rule; without one every tag would be deleted',
    },
  ],
});

export const RetentionRulesSchema = Type.Object({
  repositories: Type.Object({
    include: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Repository globs the policy applies to.' }),
    exclude: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Repository globs left alone, even when included.' })),
  }, { description: 'The repositories the policy governs (`*` is one path component, `**` any depth).' }),
  keep: KeepRulesSchema,
  deleteUntagged: Type.Optional(Type.Boolean({
    default: false,
    description: 'Also delete manifests that had no tag before the run (not children of kept indexes, not referrers).',
  })),
  deleteReferrers: Type.Optional(Type.Boolean({
    default: false, description: 'Also delete the referrers (signatures, SBOMs) of deleted manifests.',
  })),
}, {
  description: 'What to delete, in the registry\'s retention policy format. A manifest whose tags are all deleted goes '
    + 'too, with its index children unless a kept index also holds them.',
});
// the registry's own type and this schema's are one type: a field added to one side alone fails the type check
type Identical<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const rulesMatchRegistry: Identical<Static<typeof RetentionRulesSchema>, RetentionRules> = true;
void rulesMatchRegistry;

export const RetentionPolicySpecSchema = Type.Object({
  registryRef: Type.Object({
    name: Type.String({ minLength: 1, description: 'The Registry\'s name.' }),
  }, {
    description: 'The Registry in this namespace the policy applies to (missing: condition Ready=False '
      + 'RegistryNotFound, checked again until it exists).',
  }),
  schedule: Type.String({
    minLength: 1,
    maxLength: 100,
    description: 'When to run: a cron schedule (five fields, or a macro such as @daily), as a CronJob\'s.',
    'x-kubernetes-validations': [
      { rule: 'self.split(\' \').filter(f, f != \'\').size() == 5 || self.startsWith(\'@\')', message: 'schedule must have five cron fields (or be a macro such as @daily)' },
    ],
  }),
  timeZone: Type.Optional(Type.String({
    description: 'IANA time zone of the schedule, e.g. Europe/Berlin; default UTC as kube-controller-manager sees it.',
  })),
  dryRun: Type.Optional(Type.Boolean({
    default: false,
    description: 'Report the plan in status.plan (at most 50 repositories) and delete nothing.',
  })),
  suspend: Type.Optional(Type.Boolean({ default: false, description: 'true stops scheduling runs; one started by hand still runs.' })),
  successfulJobsHistoryLimit: Type.Optional(Type.Integer({
    minimum: 0, maximum: 20, default: 3, description: 'Finished Jobs kept, as a CronJob\'s.',
  })),
  failedJobsHistoryLimit: Type.Optional(Type.Integer({
    minimum: 0, maximum: 20, default: 3, description: 'Failed Jobs kept, as a CronJob\'s.',
  })),
  gc: Type.Optional(Type.Object({
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'Garbage-collect blobs no manifest references after deleting.' })),
    gracePeriod: Type.Optional(Type.String({
      default: '1h',
      pattern: '^[0-9]+(ms|s|m|h|d)$',
      description: 'Unreferenced blobs younger than this are kept (covers pushes in progress).',
    })),
  }, { default: {}, description: 'Garbage collection after the deletions.' })),
  rules: RetentionRulesSchema,
}, { description: 'What the policy deletes, and when.' });

export const RetentionRunSummarySchema = JobRunSummarySchema;

export const RetentionPlanEntrySchema = Type.Object({
  repository: Type.String({ description: 'The repository.' }),
  deleteTags: Type.Array(Type.String(), { description: 'The tags a run would delete.' }),
  deleteManifests: Type.Integer({ description: 'The manifests a run would delete.' }),
});

export const RetentionPolicyStatusSchema = Type.Object({
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64', description: 'The metadata.generation this status describes.' })),
  conditions: Type.Optional(Typed<V1Condition[]>(ConditionsSchema('Ready, with a reason and message naming the problem.'))),
  lastRun: Type.Optional(Type.Object(JobRunSummarySchema.properties, { description: 'The newest retention Job, and once it finished what its summary says.' })),
  nextRun: Type.Optional(Type.String({ description: 'When the schedule runs next (RFC 3339).' })),
  tagsDeleted: Type.Optional(Type.Integer({ description: 'Tags the last run deleted.' })),
  manifestsDeleted: Type.Optional(Type.Integer({ description: 'Manifests the last run deleted.' })),
  blobsDeleted: Type.Optional(Type.Integer({ description: 'Blobs the last run\'s garbage collection deleted.' })),
  bytesFreed: Type.Optional(Type.Integer({ format: 'int64', description: 'Bytes the last run\'s garbage collection freed.' })),
  plan: Type.Optional(Type.Array(RetentionPlanEntrySchema, { maxItems: 50, description: 'For a dry run: what would be deleted, per repository.' })),
  planTruncated: Type.Optional(Type.Boolean({ description: 'true when the plan lists only the first 50 repositories.' })),
}, { description: 'What the operator observed, written by it alone.' });

/** the CRD retentionpolicies.regop.dev, rendered by crds.ts */
export const RETENTION_POLICY_CRD: CustomResourceSource = {
  group: GROUP,
  version: VERSION,
  scope: 'Namespaced',
  names: {
    kind: RETENTION_POLICY_KIND, listKind: 'RetentionPolicyList', plural: RETENTION_POLICY_PLURAL, singular: 'retentionpolicy',
    shortNames: ['retpol'], categories: ['regop'],
  },
  description: 'Tag retention and garbage collection for a Registry, on a schedule.',
  spec: RetentionPolicySpecSchema,
  status: RetentionPolicyStatusSchema,
  printerColumns: [
    { name: 'Registry', type: 'string', jsonPath: '.spec.registryRef.name' },
    { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
    { name: 'DryRun', type: 'boolean', jsonPath: '.spec.dryRun' },
    { name: 'Last', type: 'string', jsonPath: '.status.lastRun.result' },
    { name: 'Next', type: 'string', jsonPath: '.status.nextRun' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};
