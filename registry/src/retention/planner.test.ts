import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyError, validateRules, type RetentionRules } from './policy.ts';
import { planRetention, type RepositorySnapshot, type TagSnapshot } from './planner.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000);
const tag = (name: string, digest: string, pushedDaysAgo: number, pulledDaysAgo: number | null = null): TagSnapshot => ({
  tag: name, digest, pushedAt: daysAgo(pushedDaysAgo), pulledAt: pulledDaysAgo === null ? null : daysAgo(pulledDaysAgo),
});
const image = (digest: string) => ({ digest, children: [] as string[] });

function plan(rules: Partial<RetentionRules>, repositories: RepositorySnapshot[]) {
  return planRetention(validateRules({ repositories: { include: ['**'] }, ...rules }), repositories, NOW);
}

function deletedTags(rules: Partial<RetentionRules>, repository: RepositorySnapshot): string[] {
  return plan(rules, [repository]).repositories[0]!.deletedTags.map((t) => t.tag).sort();
}

describe('retention rules', () => {
  const repo: RepositorySnapshot = {
    name: 'team/app',
    tags: [tag('latest', 'd5', 1, 0), tag('v1', 'd1', 50, 40), tag('v2', 'd2', 40), tag('dev-a', 'd3', 30, 2), tag('dev-b', 'd4', 20), tag('release-v1', 'd6', 60)],
    manifests: ['d1', 'd2', 'd3', 'd4', 'd5', 'd6'].map(image),
  };

  const cases: Array<[string, Partial<RetentionRules>, string[]]> = [
    ['patterns are anchored globs', { keep: { tags: ['v*', 'latest'] } }, ['dev-a', 'dev-b', 'release-v1']],
    ['N most recently pushed', { keep: { mostRecentlyPushed: 2 } }, ['release-v1', 'v1', 'v2', 'dev-a'].sort()],
    ['N larger than the tag count keeps all', { keep: { mostRecentlyPushed: 100 } }, []],
    ['N = 0 keeps nothing by that rule', { keep: { mostRecentlyPushed: 0, tags: ['latest'] } }, ['dev-a', 'dev-b', 'release-v1', 'v1', 'v2']],
    ['N most recently pulled ignores never-pulled tags', { keep: { mostRecentlyPulled: 5 } }, ['dev-b', 'release-v1', 'v2']],
    ['pushed within a duration', { keep: { pushedWithin: '35d' } }, ['release-v1', 'v1', 'v2']],
    ['pulled within a duration', { keep: { pulledWithin: '7d' } }, ['dev-b', 'release-v1', 'v1', 'v2']],
    ['any rule keeps: overlapping rules union', { keep: { tags: ['v*'], mostRecentlyPushed: 1, pulledWithin: '3d' } }, ['dev-b', 'release-v1']],
  ];
  for (const [name, rules, expected] of cases) {
    it(name, () => assert.deepEqual(deletedTags(rules, repo), expected));
  }

  it('orders equal push times by tag name, so N most recent is deterministic', () => {
    const tied: RepositorySnapshot = { name: 'r', tags: [tag('b', 'x', 5), tag('a', 'y', 5), tag('c', 'z', 5)], manifests: ['x', 'y', 'z'].map(image) };
    assert.deepEqual(deletedTags({ keep: { mostRecentlyPushed: 2 } }, tied), ['c']);
  });

  it('leaves empty repositories and unselected repositories alone', () => {
    const result = plan({ repositories: { include: ['team/**'], exclude: ['team/keep*'] }, keep: { tags: ['none'] } }, [
      { name: 'team/empty', tags: [], manifests: [] },
      { name: 'team/keepme', tags: [tag('x', 'd', 1)], manifests: [image('d')] },
      { name: 'other', tags: [tag('x', 'd', 1)], manifests: [image('d')] },
    ]);
    assert.deepEqual(result.repositories.map((r) => r.name), ['team/empty']);
    assert.equal(result.tagsDeleted, 0);
  });

  it('deletes a manifest when all its tags go, but not while another tag keeps it', () => {
    const shared: RepositorySnapshot = { name: 'r', tags: [tag('old', 'd1', 90), tag('alias', 'd1', 1), tag('gone', 'd2', 90)], manifests: [image('d1'), image('d2')] };
    const result = plan({ keep: { pushedWithin: '7d' } }, [shared]).repositories[0]!;
    assert.deepEqual(result.deletedTags.map((t) => t.tag), ['old', 'gone']);
    assert.deepEqual(result.deletedManifests.map((m) => m.digest), ['d2']);
  });

  it('never deletes the children of a kept index, even when they are also tagged and that tag goes', () => {
    const multi: RepositorySnapshot = {
      name: 'r',
      tags: [tag('latest', 'index', 1), tag('amd64-old', 'amd', 90), tag('old', 'oldindex', 90)],
      manifests: [{ digest: 'index', children: ['amd', 'arm'] }, image('amd'), image('arm'), { digest: 'oldindex', children: ['oldamd'] }, image('oldamd')],
    };
    const result = plan({ keep: { tags: ['latest'] } }, [multi]).repositories[0]!;
    assert.deepEqual(result.deletedTags.map((t) => t.tag).sort(), ['amd64-old', 'old']);
    assert.deepEqual(result.deletedManifests.map((m) => m.digest).sort(), ['oldamd', 'oldindex']);
  });

  it('deletes referrers of deleted manifests only when asked, and keeps referrers of kept ones', () => {
    const signed: RepositorySnapshot = {
      name: 'r',
      tags: [tag('keep', 'k', 1), tag('drop', 'x', 90)],
      manifests: [image('k'), image('x'), { digest: 'sig-k', children: [], subject: 'k' }, { digest: 'sig-x', children: [], subject: 'x' }],
    };
    const without = plan({ keep: { tags: ['keep'] }, deleteUntagged: true }, [signed]).repositories[0]!;
    assert.deepEqual(without.deletedManifests.map((m) => m.digest), ['x']);
    const withReferrers = plan({ keep: { tags: ['keep'] }, deleteReferrers: true }, [signed]).repositories[0]!;
    assert.deepEqual(withReferrers.deletedManifests.map((m) => m.digest).sort(), ['sig-x', 'x']);
  });

  it('deletes manifests that were untagged before only with deleteUntagged', () => {
    const orphans: RepositorySnapshot = { name: 'r', tags: [tag('keep', 'k', 1)], manifests: [image('k'), image('orphan')] };
    assert.deepEqual(plan({ keep: { tags: ['keep'] } }, [orphans]).repositories[0]!.deletedManifests, []);
    assert.deepEqual(plan({ keep: { tags: ['keep'] }, deleteUntagged: true }, [orphans]).repositories[0]!.deletedManifests,
      [{ digest: 'orphan', reason: 'untagged' }]);
  });

  it('gives the reason for every kept tag in the plan', () => {
    const kept = plan({ keep: { tags: ['v*'], mostRecentlyPushed: 1 } }, [repo]).repositories[0]!.keptTags;
    assert.deepEqual(kept.find((t) => t.tag === 'latest')!.reasons, ['among the 1 most recently pushed']);
    assert.deepEqual(kept.find((t) => t.tag === 'v1')!.reasons, ['matches v*']);
  });

  it('refuses a policy without keep rules and malformed values', () => {
    assert.throws(() => validateRules({ repositories: { include: ['**'] }, keep: {} }), PolicyError);
    assert.throws(() => validateRules({ repositories: { include: [] }, keep: { tags: ['x'] } }), PolicyError);
    assert.throws(() => validateRules({ repositories: { include: ['**'] }, keep: { pushedWithin: 'soon' } }), PolicyError);
    assert.throws(() => validateRules({ repositories: { include: ['**'] }, keep: { mostRecentlyPushed: -1 } }), PolicyError);
  });
});
