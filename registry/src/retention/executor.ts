// Runs a retention policy against the live stores: snapshot, plan, then delete through the same manifest
// service the API uses (so referrer links and tags stay consistent). A dry run stops after the plan.
import type { ManifestService } from '../content/manifest-service.ts';
import type { RepositoryStore } from '../content/repository-store.ts';
import { tryParseDigest } from '../oci/digest.ts';
import { planRetention, selectsRepository, type RepositorySnapshot, type RetentionPlan } from './planner.ts';
import type { ValidatedRules } from './policy.ts';

export interface RetentionResult {
  dryRun: boolean;
  plan: RetentionPlan;
  tagsDeleted: number;
  manifestsDeleted: number;
}

function latest(...times: Array<string | undefined>): Date | null {
  const values = times.filter((t): t is string => t !== undefined).map((t) => new Date(t).getTime());
  return values.length > 0 ? new Date(Math.max(...values)) : null;
}

export async function snapshotRepository(repositories: RepositoryStore, name: string): Promise<RepositorySnapshot> {
  const pulls = await repositories.pullTimes(name);
  const tags = [...(await repositories.tagRecords(name))].map(([tag, record]) => ({
    tag,
    digest: record.digest,
    pushedAt: new Date(record.pushedAt),
    // a pull by digest of the tag's current manifest counts as a pull of the tag
    pulledAt: latest(pulls.tags[tag], pulls.manifests[record.digest]),
  }));
  const manifests = [];
  for (const digest of await repositories.manifestDigests(name)) {
    const record = await repositories.getManifest(name, digest, { scan: true });
    if (record) manifests.push({ digest: record.digest, children: record.manifests, ...(record.subject ? { subject: record.subject } : {}) });
  }
  return { name, tags, manifests };
}

export async function runRetention(
  repositories: RepositoryStore, manifests: ManifestService, rules: ValidatedRules, options: { dryRun: boolean; now?: Date },
): Promise<RetentionResult> {
  const snapshots: RepositorySnapshot[] = [];
  for (const name of await repositories.listRepositories({ fresh: true })) {
    if (selectsRepository(rules, name)) snapshots.push(await snapshotRepository(repositories, name));
  }
  const plan = planRetention(rules, snapshots, options.now ?? new Date());
  const result: RetentionResult = { dryRun: options.dryRun, plan, tagsDeleted: 0, manifestsDeleted: 0 };
  if (options.dryRun) return result;
  for (const repository of plan.repositories) {
    for (const tag of repository.deletedTags) {
      // a tag re-pushed since the snapshot points elsewhere now: leave it
      const current = await repositories.getTag(repository.name, tag.tag);
      if (current?.digest !== tag.digest) continue;
      if (await repositories.deleteTag(repository.name, tag.tag)) result.tagsDeleted++;
    }
    // a manifest re-tagged since the snapshot is live again
    const stillTagged = new Set([...(await repositories.tagRecords(repository.name)).values()].map((t) => t.digest));
    for (const manifest of repository.deletedManifests) {
      const digest = tryParseDigest(manifest.digest);
      if (!digest || stillTagged.has(manifest.digest) || !(await repositories.hasManifest(repository.name, digest))) continue;
      await manifests.delete(repository.name, manifest.digest);
      result.manifestsDeleted++;
    }
  }
  return result;
}
