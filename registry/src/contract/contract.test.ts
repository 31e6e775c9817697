// The registry's side of what crosses to the operator: the image layout and ports written in other languages
// (Dockerfile, the image script, the Helm chart, the README's reference of the config file) agree with the contract,
// and a Job's summary fits a termination message and says what the run did.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BackupReport } from '../backup/backup.ts';
import type { GcReport } from '../gc/collector.ts';
import { planRetention, type RepositorySnapshot } from '../retention/planner.ts';
import { validateRules } from '../retention/policy.ts';
import {
  backupJobSummary, CONFIG_FILE_KEYS, jobFailure, PLAN_TAGS_PER_REPOSITORY, REGISTRY_API_PORT, REGISTRY_CLI_PATH, REGISTRY_OPS_PORT,
  retentionJobSummary, TERMINATION_MESSAGE_LIMIT, terminationMessage, type RetentionJobSummary, type RetentionOutput,
} from './index.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

describe('contract: the image, the chart and the README agree with it', () => {
  it('the registry\'s command line is where the image puts the compiled cli.ts', () => {
    const bin = (JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin['regop-registry'];
    assert.equal(REGISTRY_CLI_PATH, `/app/${bin}`, 'package.json\'s bin, under the image\'s /app');
    const dockerfile = read('Dockerfile');
    assert.match(dockerfile, /^WORKDIR \/app$/m);
    assert.match(dockerfile, /^COPY --from=build \/app\/dist \.\/dist$/m);
    assert.ok(dockerfile.includes(`ENTRYPOINT ["node", "${REGISTRY_CLI_PATH}"]`), 'the Dockerfile\'s entry point');
    assert.ok(read('test/image/build.sh').includes(`--entrypoint '["node", "${REGISTRY_CLI_PATH}"]'`), 'test/image/build.sh\'s entry point');
  });

  it('every key the config file takes is written as a YAML key in the README (its reference of the file)', () => {
    const readme = read('README.md');
    const undocumented = Object.entries(CONFIG_FILE_KEYS).flatMap(([section, keys]) =>
      keys.filter((key) => !new RegExp(`^\\s*#?\\s*(?:- )?${key}:`, 'm').test(readme)).map((key) => `${section}.${key}`));
    assert.deepEqual(undocumented, []);
  });

  it('the chart lets the operator reach the registry pods on the API and ops ports', () => {
    const policy = read('charts/regop/templates/networkpolicy.yaml');
    assert.ok(policy.includes(`[{ protocol: TCP, port: ${REGISTRY_API_PORT} }, { protocol: TCP, port: ${REGISTRY_OPS_PORT} }]`), policy);
  });
});

const NOW = new Date('2026-06-01T00:00:00Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000);

function repository(name: string, tags: number): RepositorySnapshot {
  return {
    name,
    tags: Array.from({ length: tags }, (_, i) => ({ tag: `build-${String(i).padStart(4, '0')}`, digest: `sha256:${name}-${i}`, pushedAt: daysAgo(i + 1), pulledAt: null })),
    manifests: Array.from({ length: tags }, (_, i) => ({ digest: `sha256:${name}-${i}`, children: [] })),
  };
}

const gc: GcReport = {
  dryRun: false, startedAt: NOW.toISOString(), durationMs: 1200, repositories: 3, manifests: 9, blobsMarked: 20, blobsScanned: 31,
  blobsDeleted: 11, bytesFreed: 123_456_789, keptYoung: 0, keptProtected: 0, linksRemoved: 4, uploadsPurged: 0,
};

function retentionOutput(repositories: RepositorySnapshot[], dryRun: boolean): RetentionOutput {
  const plan = planRetention(validateRules({ repositories: { include: ['**'] }, keep: { mostRecentlyPushed: 2 } }), repositories, NOW);
  return { dryRun, plan, tagsDeleted: dryRun ? 0 : plan.tagsDeleted, manifestsDeleted: dryRun ? 0 : plan.manifestsDeleted, ...(dryRun ? {} : { gc }) };
}

describe('contract: the summaries maintenance Jobs leave', () => {
  it('a retention run: its counts, its GC report, and per repository the tags it deleted', () => {
    const output = retentionOutput([repository('team/app', 5), repository('team/kept', 2)], false);
    const summary = JSON.parse(terminationMessage(retentionJobSummary(output))) as RetentionJobSummary;
    assert.deepEqual([summary.dryRun, summary.tagsDeleted, summary.manifestsDeleted, summary.gc?.blobsDeleted, summary.gc?.bytesFreed], [false, 3, 3, 11, 123_456_789]);
    assert.deepEqual(summary.plan, [{ repository: 'team/app', deleteTags: ['build-0002', 'build-0003', 'build-0004'], deleteManifests: 3 }]);
    assert.equal(summary.planTruncated, undefined);
  });

  it('a dry run whose plan would not fit a termination message leaves the plan out and says so', () => {
    const repositories = Array.from({ length: 60 }, (_, i) => repository(`team/service-${i}`, 4 + PLAN_TAGS_PER_REPOSITORY));
    const output = retentionOutput(repositories, true);
    const full = retentionJobSummary(output);
    assert.equal(full.plan![0]!.deleteTags.length, PLAN_TAGS_PER_REPOSITORY, 'tags named per repository are bounded');
    assert.equal(full.plan![0]!.deleteManifests, 2 + PLAN_TAGS_PER_REPOSITORY, 'but all are counted');
    const message = terminationMessage(full);
    assert.ok(Buffer.byteLength(message) <= TERMINATION_MESSAGE_LIMIT, `${Buffer.byteLength(message)} bytes`);
    const summary = JSON.parse(message) as RetentionJobSummary;
    assert.deepEqual([summary.dryRun, summary.plan, summary.planTruncated], [true, undefined, true]);
  });

  it('a backup: the report, with pruned snapshots counted; a failure: its error, bounded', () => {
    const report: BackupReport = {
      snapshot: '20260601T030000Z', destination: 's3://backups/team', startedAt: NOW.toISOString(), durationMs: 5000, repositories: 4, images: 12, tags: 9,
      blobsCopied: 30, bytesCopied: 1_000_000, blobsSkipped: 70, bytesSkipped: 9_000_000, tagsLeftOut: 0, mirrorRepositoriesSkipped: 1,
      pruned: { snapshotsKept: 7, snapshotsDeleted: Array.from({ length: 300 }, (_, i) => `2025${String(i).padStart(10, '0')}Z`), blobsDeleted: 40, bytesFreed: 5_000_000, temporariesRemoved: 0 },
    };
    const message = terminationMessage(backupJobSummary(report));
    assert.ok(message.length <= TERMINATION_MESSAGE_LIMIT);
    const summary = JSON.parse(message);
    assert.deepEqual([summary.snapshot, summary.images, summary.blobsCopied, summary.bytesSkipped, summary.pruned.snapshotsDeleted], ['20260601T030000Z', 12, 30, 9_000_000, 300]);
    assert.deepEqual(JSON.parse(terminationMessage(jobFailure('x'.repeat(5000)))), { error: 'x'.repeat(1000) });
  });
});
