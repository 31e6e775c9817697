// Rule evaluation: from a snapshot of repositories and a validated policy to a plan of what goes and why.
// Pure, so every edge case is a table-driven unit test. A tag is kept if any keep rule holds; every other tag
// in a selected repository is deleted. Manifests that are still reachable from a kept tag (children of a kept
// index, referrers of a kept manifest) are never deleted.
import picomatch from 'picomatch';
import type { ValidatedRules } from './policy.ts';

export interface TagSnapshot {
  tag: string;
  digest: string;
  pushedAt: Date;
  /** null when never pulled */
  pulledAt: Date | null;
}

export interface ManifestSnapshot {
  digest: string;
  /** children of an index */
  children: string[];
  subject?: string;
}

export interface RepositorySnapshot {
  name: string;
  tags: TagSnapshot[];
  manifests: ManifestSnapshot[];
}

export interface PlannedTag {
  tag: string;
  digest: string;
  reasons: string[];
}

export interface RepositoryPlan {
  name: string;
  keptTags: PlannedTag[];
  deletedTags: PlannedTag[];
  deletedManifests: Array<{ digest: string; reason: string }>;
}

export interface RetentionPlan {
  repositories: RepositoryPlan[];
  tagsKept: number;
  tagsDeleted: number;
  manifestsDeleted: number;
}

export function selectsRepository(rules: ValidatedRules, name: string): boolean {
  return picomatch.isMatch(name, rules.include) && !(rules.exclude.length > 0 && picomatch.isMatch(name, rules.exclude));
}

/** The top `n` tags by a time, newest first; equal times are ordered by tag name, so the result is stable. */
function newest(tags: TagSnapshot[], n: number, time: (tag: TagSnapshot) => Date | null): Set<string> {
  return new Set(
    tags
      .filter((tag) => time(tag) !== null)
      .sort((a, b) => time(b)!.getTime() - time(a)!.getTime() || a.tag.localeCompare(b.tag))
      .slice(0, n)
      .map((tag) => tag.tag),
  );
}

function keepReasons(rules: ValidatedRules, tags: TagSnapshot[], now: Date): Map<string, string[]> {
  const recentlyPushed = rules.mostRecentlyPushed !== undefined ? newest(tags, rules.mostRecentlyPushed, (t) => t.pushedAt) : new Set<string>();
  const recentlyPulled = rules.mostRecentlyPulled !== undefined ? newest(tags, rules.mostRecentlyPulled, (t) => t.pulledAt) : new Set<string>();
  const reasons = new Map<string, string[]>();
  for (const tag of tags) {
    const why: string[] = [];
    const pattern = rules.keepTags.find((glob) => picomatch.isMatch(tag.tag, glob));
    if (pattern !== undefined) why.push(`matches ${pattern}`);
    if (recentlyPushed.has(tag.tag)) why.push(`among the ${rules.mostRecentlyPushed} most recently pushed`);
    if (recentlyPulled.has(tag.tag)) why.push(`among the ${rules.mostRecentlyPulled} most recently pulled`);
    if (rules.pushedWithinMs !== undefined && now.getTime() - tag.pushedAt.getTime() <= rules.pushedWithinMs) why.push('pushed recently');
    if (rules.pulledWithinMs !== undefined && tag.pulledAt && now.getTime() - tag.pulledAt.getTime() <= rules.pulledWithinMs) {
      why.push('pulled recently');
    }
    reasons.set(tag.tag, why);
  }
  return reasons;
}

function planRepository(rules: ValidatedRules, repository: RepositorySnapshot, now: Date): RepositoryPlan {
  const reasons = keepReasons(rules, repository.tags, now);
  const keptTags: PlannedTag[] = [];
  const deletedTags: PlannedTag[] = [];
  for (const tag of repository.tags) {
    const why = reasons.get(tag.tag)!;
    if (why.length > 0) keptTags.push({ tag: tag.tag, digest: tag.digest, reasons: why });
    else deletedTags.push({ tag: tag.tag, digest: tag.digest, reasons: ['no keep rule holds'] });
  }

  const manifests = new Map(repository.manifests.map((m) => [m.digest, m]));
  const referrersOf = new Map<string, string[]>();
  for (const manifest of repository.manifests) {
    if (manifest.subject) referrersOf.set(manifest.subject, [...(referrersOf.get(manifest.subject) ?? []), manifest.digest]);
  }
  // live: reachable from a kept tag through index children and referrers
  const live = new Set<string>();
  const pending = keptTags.map((tag) => tag.digest);
  while (pending.length > 0) {
    const digest = pending.pop()!;
    if (live.has(digest)) continue;
    live.add(digest);
    pending.push(...(manifests.get(digest)?.children ?? []), ...(referrersOf.get(digest) ?? []));
  }

  const taggedBefore = new Set(repository.tags.map((tag) => tag.digest));
  const parentsOf = new Map<string, string[]>();
  for (const manifest of repository.manifests) {
    for (const child of manifest.children) parentsOf.set(child, [...(parentsOf.get(child) ?? []), manifest.digest]);
  }
  const deleted = new Map<string, string>();
  // deletions enable further deletions (children of a deleted index, referrers of a deleted manifest): iterate
  for (let changed = true; changed;) {
    changed = false;
    for (const manifest of repository.manifests) {
      if (live.has(manifest.digest) || deleted.has(manifest.digest)) continue;
      let reason: string | undefined;
      const deletedParent = (parentsOf.get(manifest.digest) ?? []).find((parent) => deleted.has(parent));
      if (taggedBefore.has(manifest.digest)) {
        const tags = deletedTags.filter((tag) => tag.digest === manifest.digest).map((tag) => tag.tag);
        reason = `all its tags are deleted (${tags.join(', ')})`;
      } else if (deletedParent && (parentsOf.get(manifest.digest) ?? []).every((p) => deleted.has(p))) {
        reason = `child of deleted index ${deletedParent}`;
      } else if (manifest.subject) {
        if (rules.deleteReferrers && deleted.has(manifest.subject)) reason = `referrer of deleted ${manifest.subject}`;
      } else if (rules.deleteUntagged && !parentsOf.has(manifest.digest)) {
        reason = 'untagged';
      }
      if (reason) {
        deleted.set(manifest.digest, reason);
        changed = true;
      }
    }
  }
  return {
    name: repository.name,
    keptTags,
    deletedTags,
    deletedManifests: [...deleted].map(([digest, reason]) => ({ digest, reason })),
  };
}

export function planRetention(rules: ValidatedRules, repositories: RepositorySnapshot[], now: Date): RetentionPlan {
  const plans = repositories
    .filter((repository) => selectsRepository(rules, repository.name))
    .map((repository) => planRepository(rules, repository, now));
  return {
    repositories: plans,
    tagsKept: plans.reduce((sum, plan) => sum + plan.keptTags.length, 0),
    tagsDeleted: plans.reduce((sum, plan) => sum + plan.deletedTags.length, 0),
    manifestsDeleted: plans.reduce((sum, plan) => sum + plan.deletedManifests.length, 0),
  };
}
