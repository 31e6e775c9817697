// The paths a newcomer takes on a machine with Docker are not run here (no Docker engine), so what can be
// checked without one is checked: the GitHub workflow is valid for Actions, and the kind script runs only the
// e2e suites that hold on any cluster.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const workflows = join(root, '.github', 'workflows');

describe('the kind e2e path', () => {
  it('has GitHub workflows that actionlint accepts', async () => {
    const files = readdirSync(workflows).filter((name) => /\.ya?ml$/.test(name)).map((name) => join(workflows, name));
    assert.ok(files.length > 0, 'no workflow files found');
    const result = await run('actionlint', ['-no-color', ...files], { cwd: root }).catch((error: { stdout?: string; stderr?: string; code?: number }) => error);
    assert.equal('code' in result ? result.code : 0, 0, `actionlint found problems:\n${result.stdout ?? ''}${result.stderr ?? ''}`);
  });

  it('runs on kind only suites that hold on any cluster, never the local cluster\'s teardown', () => {
    const script = readFileSync(join(root, 'test', 'e2e', 'kind.sh'), 'utf8');
    const globs = [...script.matchAll(/'(test\/e2e\/[^']+)'/g)].map((match) => match[1]);
    assert.deepEqual(globs, ['test/e2e/operator/*.test.ts']);
  });
});
