import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WatchedFile } from './watched-file.ts';

async function eventually(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const parseNumber = (text: string) => {
  const value = Number(text.trim());
  if (!Number.isInteger(value)) throw new Error('not an integer');
  return value;
};

describe('WatchedFile', () => {
  const opened: WatchedFile<unknown>[] = [];
  afterEach(() => opened.splice(0).forEach((file) => file.close()));
  const open = async <T>(options: Parameters<typeof WatchedFile.open<T>>[0]) => {
    const file = await WatchedFile.open(options);
    opened.push(file);
    return file;
  };

  it('follows a file rewritten in place', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'regop-watch-')), 'n');
    writeFileSync(path, '1');
    const reloads: number[] = [];
    const file = await open({ path, parse: parseNumber, intervalMs: 5, onReload: (v) => reloads.push(v) });
    assert.equal(file.value, 1);
    writeFileSync(path, '2');
    await eventually(() => file.value === 2, 'the new value');
    assert.deepEqual(reloads, [2]);
  });

  it('follows a Kubernetes-style symlink swap of the ..data directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regop-watch-'));
    mkdirSync(join(dir, '..2024_01'));
    writeFileSync(join(dir, '..2024_01', 'n'), '1');
    symlinkSync('..2024_01', join(dir, '..data'));
    symlinkSync(join('..data', 'n'), join(dir, 'n'));
    const file = await open({ path: join(dir, 'n'), parse: parseNumber, intervalMs: 5 });
    mkdirSync(join(dir, '..2024_02'));
    writeFileSync(join(dir, '..2024_02', 'n'), '2');
    symlinkSync('..2024_02', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2024_01'), { recursive: true });
    await eventually(() => file.value === 2, 'the swapped value');
  });

  it('says the served value is stale while the file on disk fails to load, and since when', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'regop-watch-')), 'n');
    writeFileSync(path, '1');
    const file = await open({ path, parse: parseNumber, intervalMs: 5 });
    const failureOf = () => file.loadFailure;
    assert.equal(failureOf(), undefined);
    const before = new Date();
    writeFileSync(path, 'x-secret');
    await eventually(() => file.loadFailure !== undefined, 'the failure');
    const failure = failureOf()!;
    assert.equal(failure.message, `${path} not reloaded: not an integer`);
    assert.ok(failure.since >= before);
    assert.equal(file.value, 1);
    rmSync(path);
    await eventually(() => file.loadFailure?.message === `cannot read ${path}: ENOENT`, 'the unreadable file');
    assert.equal(failureOf()?.since, failure.since, 'stale since the first failure');
    writeFileSync(path, '1');
    await eventually(() => file.loadFailure === undefined, 'the served content back on disk');
    writeFileSync(path, 'x');
    await eventually(() => file.loadFailure !== undefined, 'a new failure');
    writeFileSync(path, '3');
    await eventually(() => file.loadFailure === undefined && file.value === 3, 'a good new version');
  });

  it('keeps the last good value when the file breaks, reports once, and recovers', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'regop-watch-')), 'n');
    writeFileSync(path, '1');
    const errors: string[] = [];
    const file = await open({ path, parse: parseNumber, intervalMs: 60_000, onError: (e) => errors.push(e.message) });
    writeFileSync(path, 'secret-content');
    await file.poll();
    await file.poll();
    assert.equal(file.value, 1);
    assert.equal(errors.length, 1, 'one report per broken version');
    assert.match(errors[0]!, /not reloaded: not an integer/);
    assert.doesNotMatch(errors[0]!, /secret-content/);
    rmSync(path);
    await file.poll();
    await file.poll();
    assert.equal(file.value, 1);
    assert.match(errors[1]!, /cannot read .*: ENOENT/);
    assert.equal(errors.length, 2);
    writeFileSync(path, '3');
    await file.poll();
    assert.equal(file.value, 3);
  });

  it('fails to open a missing or invalid file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regop-watch-'));
    await assert.rejects(WatchedFile.open({ path: join(dir, 'missing'), parse: parseNumber, intervalMs: 5 }), { code: 'ENOENT' });
    writeFileSync(join(dir, 'bad'), 'x');
    await assert.rejects(WatchedFile.open({ path: join(dir, 'bad'), parse: parseNumber, intervalMs: 5 }), /not an integer/);
  });

  it('stops polling when closed', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'regop-watch-')), 'n');
    writeFileSync(path, '1');
    let parses = 0;
    const file = await open({ path, parse: (t) => (parses++, parseNumber(t)), intervalMs: 5 });
    file.close();
    writeFileSync(path, '2');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(file.value, 1);
    assert.equal(parses, 1);
  });
});
