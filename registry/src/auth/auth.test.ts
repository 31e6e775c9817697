import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, symlinkSync, renameSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import pino from 'pino';
import { RegistryError } from '../errors.ts';
import { allows, parseAccessRules } from './access.ts';
import { parseHtpasswd, PasswordVerifier } from './htpasswd.ts';
import { FailedLoginLimiter } from './rate-limit.ts';
import { Authenticator } from './index.ts';

const logger = pino({ level: 'silent' });
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (e: unknown) => (e instanceof RegistryError ? e.descriptor.code : String(e)));

async function eventually(check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail('condition not met in time');
}

describe('htpasswd', () => {
  it('reads bcrypt entries as htpasswd -B writes them ($2y$) and reports other schemes', async () => {
    const apacheHash = bcrypt.hashSync('pw', 4).replace(/^\$2[ab]\$/, '$2y$');
    const file = parseHtpasswd(`# comment\nalice:${apacheHash}\n\nbob:{SHA}abc=\n`);
    assert.deepEqual([...file.users.keys()], ['alice']);
    assert.deepEqual(file.unsupported, ['bob']);
    const verifier = new PasswordVerifier();
    assert.equal(await verifier.verify('alice', 'pw', apacheHash), true);
    assert.equal(await verifier.verify('alice', 'wrong', apacheHash), false);
    assert.equal(await verifier.verify('alice', 'pw', apacheHash), true, 'remembered success');
    assert.equal(await verifier.verify('alice', 'wrong', apacheHash), false, 'a remembered success never admits another password');
  });
});

describe('access rules', () => {
  const rules = parseAccessRules(`
users:
  - user: alice
    rules:
      - repositories: ["team-a/*"]
        actions: [pull, push]
      - repositories: ["shared/**"]
        actions: [pull]
`);
  it('matches * within one path component and ** across components', () => {
    assert.ok(allows(rules, 'alice', 'team-a/app', 'push'));
    assert.ok(!allows(rules, 'alice', 'team-a/x/y', 'pull'));
    assert.ok(allows(rules, 'alice', 'shared/a/b/c', 'pull'));
    assert.ok(!allows(rules, 'alice', 'shared/a', 'push'));
    assert.ok(!allows(rules, 'bob', 'team-a/app', 'pull'), 'an unlisted user has no rights');
  });
  it('names the entry that is wrong', () => {
    assert.throws(() => parseAccessRules('users:\n  - user: a\n    rules:\n      - repositories: ["x"]\n        actions: [fly]\n'), /users\[0\]\.rules\[0\]\.actions: unknown action "fly"/);
    assert.throws(() => parseAccessRules('users:\n  - rules: []\n'), /users\[0\]\.user is missing/);
  });
});

describe('failed-login limiter', () => {
  it('locks an address after too many failures and tells how long', () => {
    const limiter = new FailedLoginLimiter({ maxFailures: 3, windowMs: 1000, lockoutMs: 5000 });
    for (let i = 0; i < 3; i++) limiter.recordFailure('1.2.3.4', 100);
    assert.equal(limiter.lockedFor('1.2.3.4', 200), 4900);
    assert.equal(limiter.lockedFor('5.6.7.8', 200), 0);
    limiter.recordSuccess('1.2.3.4', 300);
    assert.ok(limiter.lockedFor('1.2.3.4', 300) > 0, 'a success does not lift a lockout');
    assert.equal(limiter.lockedFor('1.2.3.4', 5200), 0);
  });
  it('forgets failures outside the window and caps memory', () => {
    const limiter = new FailedLoginLimiter({ maxFailures: 2, windowMs: 100, lockoutMs: 1000, maxTracked: 10 });
    limiter.recordFailure('a', 0);
    limiter.recordFailure('a', 500);
    assert.equal(limiter.lockedFor('a', 501), 0);
    for (let i = 0; i < 1000; i++) limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`, 600);
    assert.ok((limiter as unknown as { entries: Map<string, unknown> }).entries.size <= 10);
  });
});

describe('Authenticator', () => {
  function files() {
    const dir = mkdtempSync(join(tmpdir(), 'regop-auth-'));
    const htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, `dev:${bcrypt.hashSync('one', 4)}\n`);
    return { dir, htpasswd };
  }

  it('is open without an htpasswd file', async () => {
    const auth = await Authenticator.create({}, logger);
    assert.equal(auth.enabled, false);
    assert.deepEqual(await auth.authenticate(undefined, 'x'), { user: null });
    assert.ok(auth.authorize({ user: null }, 'any', 'delete'));
  });

  it('authenticates, challenges, denies and rate-limits', async () => {
    const { htpasswd } = files();
    const auth = await Authenticator.create({ htpasswdFile: htpasswd, maxFailures: 2, lockoutMs: 60_000 }, logger);
    try {
      assert.deepEqual(await auth.authenticate(basic('dev', 'one'), '1.1.1.1'), { user: 'dev' });
      assert.equal(await codeOf(auth.authenticate(basic('dev', 'two'), '2.2.2.2')), 'UNAUTHORIZED');
      assert.equal(await codeOf(auth.authenticate('Basic !!!', '2.2.2.2')), 'UNAUTHORIZED');
      assert.equal(await codeOf(auth.authenticate(basic('dev', 'one'), '2.2.2.2')), 'TOOMANYREQUESTS');
      assert.throws(() => auth.requireAuthorization({ user: null }, 'r', ['pull']), (e: RegistryError) => e.descriptor.code === 'UNAUTHORIZED' && !!e.headers['WWW-Authenticate']);
      assert.doesNotThrow(() => auth.requireAuthorization({ user: 'dev' }, 'r', ['push', 'delete']), 'no access file: authenticated users may do everything');
    } finally {
      auth.close();
    }
  });

  it('reloads a changed htpasswd, also when Kubernetes swaps a symlink, and keeps the last good file on errors', async () => {
    const { dir } = files();
    mkdirSync(join(dir, 'v1'));
    writeFileSync(join(dir, 'v1', 'htpasswd'), `dev:${bcrypt.hashSync('one', 4)}\n`);
    symlinkSync('v1', join(dir, '..data'));
    const path = join(dir, 'htpasswd-link');
    symlinkSync(join('..data', 'htpasswd'), path);
    const accessPath = join(dir, 'access.yaml');
    writeFileSync(accessPath, 'users:\n  - user: dev\n    rules:\n      - repositories: ["**"]\n        actions: [pull]\n');
    const auth = await Authenticator.create({ htpasswdFile: path, accessFile: accessPath, reloadIntervalMs: 20 }, logger);
    try {
      assert.equal(auth.authorize({ user: 'dev' }, 'x', 'push'), false);
      mkdirSync(join(dir, 'v2'));
      writeFileSync(join(dir, 'v2', 'htpasswd'), `dev:${bcrypt.hashSync('two', 4)}\n`);
      symlinkSync('v2', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      await eventually(async () => (await codeOf(auth.authenticate(basic('dev', 'two'), '3.3.3.3'))) === 'ok');
      assert.equal(await codeOf(auth.authenticate(basic('dev', 'one'), '3.3.3.4')), 'UNAUTHORIZED');
      writeFileSync(accessPath, 'users: [[[broken');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(auth.authorize({ user: 'dev' }, 'x', 'pull'), true, 'broken access file keeps previous rules');
      writeFileSync(accessPath, 'users:\n  - user: dev\n    rules:\n      - repositories: ["**"]\n        actions: [pull, push]\n');
      await eventually(async () => auth.authorize({ user: 'dev' }, 'x', 'push'));
    } finally {
      auth.close();
    }
  });

  it('lets anonymous clients pull only when anonymous pull is on', async () => {
    const { htpasswd } = files();
    const auth = await Authenticator.create({ htpasswdFile: htpasswd, anonymousPull: true }, logger);
    try {
      assert.ok(auth.authorize({ user: null }, 'x', 'pull'));
      assert.ok(!auth.authorize({ user: null }, 'x', 'push'));
      assert.ok(auth.canAccessCatalog({ user: null }));
    } finally {
      auth.close();
    }
  });
});
