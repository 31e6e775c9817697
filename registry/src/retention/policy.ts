// A retention policy: which repositories it governs and which tags it keeps. The same shape is the
// `rules` of the operator's RetentionPolicy resource.
import ms from 'ms';

export interface KeepRules {
  /** anchored globs on tag names (`v*` keeps v1 and v2.0, not release-v1); `*` does not cross `/` (tags have none) */
  tags?: string[];
  /** keep the N tags pushed most recently */
  mostRecentlyPushed?: number;
  /** keep the N tags pulled most recently (tags never pulled do not count) */
  mostRecentlyPulled?: number;
  /** keep tags pushed within this long, e.g. `30d` */
  pushedWithin?: string;
  /** keep tags pulled within this long */
  pulledWithin?: string;
}

export interface RetentionRules {
  repositories: { include: string[]; exclude?: string[] };
  keep: KeepRules;
  /** also delete manifests that had no tag before the run (not children of kept indexes, not referrers) */
  deleteUntagged?: boolean;
  /** also delete the referrers (signatures, SBOMs) of deleted manifests */
  deleteReferrers?: boolean;
}

export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

function durationMs(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = ms(value as ms.StringValue);
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
    throw new PolicyError(`keep.${field} must be a duration such as 12h or 30d (got ${JSON.stringify(value)})`);
  }
  return parsed;
}

function count(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new PolicyError(`keep.${field} must be a non-negative integer`);
  }
  return value;
}

function globs(value: unknown, field: string, required: boolean): string[] {
  if (value === undefined && !required) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '') || (required && value.length === 0)) {
    throw new PolicyError(`${field} must be a ${required ? 'non-empty ' : ''}list of globs`);
  }
  return value as string[];
}

export interface ValidatedRules {
  include: string[];
  exclude: string[];
  keepTags: string[];
  mostRecentlyPushed?: number;
  mostRecentlyPulled?: number;
  pushedWithinMs?: number;
  pulledWithinMs?: number;
  deleteUntagged: boolean;
  deleteReferrers: boolean;
}

/** Checks a policy and normalizes it; a policy without any keep rule is refused, since it would delete every tag. */
export function validateRules(input: unknown): ValidatedRules {
  if (typeof input !== 'object' || input === null) throw new PolicyError('rules must be an object');
  const rules = input as Partial<RetentionRules>;
  const repositories = rules.repositories ?? ({} as RetentionRules['repositories']);
  const keep = rules.keep ?? {};
  const validated: ValidatedRules = {
    include: globs(repositories.include, 'repositories.include', true),
    exclude: globs(repositories.exclude, 'repositories.exclude', false),
    keepTags: globs(keep.tags, 'keep.tags', false),
    deleteUntagged: rules.deleteUntagged === true,
    deleteReferrers: rules.deleteReferrers === true,
  };
  const pushed = count(keep.mostRecentlyPushed, 'mostRecentlyPushed');
  const pulled = count(keep.mostRecentlyPulled, 'mostRecentlyPulled');
  const pushedWithin = durationMs(keep.pushedWithin, 'pushedWithin');
  const pulledWithin = durationMs(keep.pulledWithin, 'pulledWithin');
  if (pushed !== undefined) validated.mostRecentlyPushed = pushed;
  if (pulled !== undefined) validated.mostRecentlyPulled = pulled;
  if (pushedWithin !== undefined) validated.pushedWithinMs = pushedWithin;
  if (pulledWithin !== undefined) validated.pulledWithinMs = pulledWithin;
  const anyKeepRule = validated.keepTags.length > 0 || pushed !== undefined || pulled !== undefined
    || pushedWithin !== undefined || pulledWithin !== undefined;
  if (!anyKeepRule) throw new PolicyError('keep needs at least one rule (tags, mostRecentlyPushed, mostRecentlyPulled, pushedWithin or pulledWithin)');
  return validated;
}
