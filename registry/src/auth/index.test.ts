import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import bcrypt from 'bcrypt';
import pino from 'pino';
import { RegistryError } from '../errors.ts';
import { Authenticator, type AuthOptions } from './index.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then((value) => JSON.stringify(value), (error: unknown) => {
    if (error instanceof RegistryError) return error.descriptor.code;
    throw error;
  });
}

function thrown(action: () => unknown): RegistryError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof RegistryError);
    return error;
  }
  assert.fail('expected a RegistryError');
}

async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'regop-auth-'));
}

const ACCESS = `
users:
  - user: alice
    rules:
      - repositories: ["team-a/**"]
        actions: [pull, push, delete]
  - user: ci
    rules:
      - repositories: ["**"]
        actions: [pull]
`;

describe('Authenticator', () => {
  const created: Authenticator[] = [];
  afterEach(() => created.splice(0).forEach((auth) => auth.close()));
  const create = async (options: AuthOptions, logger = pino({ level: 'silent' })) => {
    const auth = await Authenticator.create(options, logger);
    created.push(auth);
    return auth;
  };
  const htpasswdFile = (users: Record<string, string>, dir = tempDir()) => {
    const path = join(dir, 'htpasswd');
    writeFileSync(path, Object.entries(users).map(([user, pw]) => `${user}:${bcrypt.hashSync(pw, 4).replace('$2b$', '$2y$')}\n`).join(''));
    return path;
  };

  it('is open without an htpasswd file: anyone may do anything', async () => {
    const auth = await create({});
    assert.equal(auth.enabled, false);
    assert.deepEqual(await auth.authenticate(undefined, 'x'), { user: null });
    assert.deepEqual(await auth.authenticate(basic('who', 'ever'), 'x'), { user: null });
    assert.ok(auth.authorize({ user: null }, 'any/thing', 'delete'));
    assert.ok(auth.canAccessCatalog({ user: null }));
    assert.equal(auth.challenge(), 'Basic realm="regop"');
  });

  it('logs users in with their htpasswd password and refuses wrong passwords and unknown users', async () => {
    const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'wonderland' }), realm: 'lab' });
    assert.equal(auth.enabled, true);
    assert.deepEqual(await auth.authenticate(basic('alice', 'wonderland'), 'a'), { user: 'alice' });
    assert.deepEqual(await auth.authenticate(undefined, 'a'), { user: null }, 'no header: anonymous, authorize decides');
    for (const header of [basic('alice', 'wrong'), basic('bob', 'wonderland'), basic('', 'x'), 'Basic !!!', 'Bearer abc', `Basic ${Buffer.from('nocolon').toString('base64')}`]) {
      await assert.rejects(auth.authenticate(header, 'a'), (error: RegistryError) => {
        assert.equal(error.descriptor.code, 'UNAUTHORIZED');
        assert.equal(error.headers['WWW-Authenticate'], 'Basic realm="lab"');
        return true;
      }, header);
    }
  });

  it('does not accept a wrong password after the right one was remembered', async () => {
    const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'wonderland' }) });
    assert.equal(await outcome(auth.authenticate(basic('alice', 'wonderland'), 'a')), '{"user":"alice"}');
    assert.equal(await outcome(auth.authenticate(basic('alice', 'wonderland'), 'a')), '{"user":"alice"}');
    assert.equal(await outcome(auth.authenticate(basic('alice', 'wonderlan'), 'a')), 'UNAUTHORIZED');
    assert.equal(await outcome(auth.authenticate(basic('alice', 'wonderland '), 'a')), 'UNAUTHORIZED');
  });

  it('locks out a user at an address after too many failures, with Retry-After, even for the right password', async () => {
    const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'wonderland' }), maxFailures: 3, lockoutMs: 30_000 });
    for (let i = 0; i < 3; i++) assert.equal(await outcome(auth.authenticate(basic('alice', `guess${i}`), '6.6.6.6')), 'UNAUTHORIZED');
    await assert.rejects(auth.authenticate(basic('alice', 'wonderland'), '6.6.6.6'), (error: RegistryError) => {
      assert.equal(error.descriptor.code, 'TOOMANYREQUESTS');
      assert.equal(error.httpStatus, 429);
      assert.equal(error.headers['Retry-After'], '30');
      return true;
    });
    assert.deepEqual(await auth.authenticate(basic('alice', 'wonderland'), '7.7.7.7'), { user: 'alice' }, 'other addresses still log in');
  });

  it('never refuses a correct password because of failures for other names from the same address', async () => {
    const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'wonderland', bob: 'builder' }), maxFailures: 3 });
    for (let i = 0; i < 6; i++) {
      await outcome(auth.authenticate(basic('alice', `guess${i}`), '10.0.0.1'));
      await outcome(auth.authenticate(basic(`ghost${i}`, 'x'), '10.0.0.1'));
      await outcome(auth.authenticate(basic('ghost', 'x'), '10.0.0.1'));
      await outcome(auth.authenticate('Basic !!!', '10.0.0.1'));
    }
    assert.equal(await outcome(auth.authenticate(basic('alice', 'wonderland'), '10.0.0.1')), 'TOOMANYREQUESTS', 'alice\'s own lockout');
    assert.equal(await outcome(auth.authenticate(basic('bob', 'builder'), '10.0.0.1')), '{"user":"bob"}');
    assert.equal(await outcome(auth.authenticate(basic('alice', 'wonderland'), '10.0.0.2')), '{"user":"alice"}');
  });

  it('answers a locked-out name the same whether or not the user exists', async () => {
    const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'wonderland' }), maxFailures: 3 });
    const answers = async (user: string) => {
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) seen.push(await outcome(auth.authenticate(basic(user, `guess${i}`), '10.0.0.1')));
      return seen;
    };
    const expected = ['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED', 'TOOMANYREQUESTS', 'TOOMANYREQUESTS'];
    assert.deepEqual(await answers('alice'), expected);
    assert.deepEqual(await answers('nobody'), expected);
    // the address's made-up names are now past the limit: still 401, as for a real user's wrong password
    assert.deepEqual((await answers('nobody-else')).slice(0, 1), ['UNAUTHORIZED']);
  });

  it('logs failed logins with the user name and address, lockouts as such, never the password', async () => {
    const { logger, lines } = capturingLogger();
    const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'wonderland' }), maxFailures: 2 }, logger);
    for (const user of ['alice', 'alice', 'ghost', 'ghost2']) await outcome(auth.authenticate(basic(user, 'hunter2'), '10.9.8.7'));
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const messages = records.map((record) => `${String(record.msg)} ${String(record.user ?? '')} ${String(record.remote)}`);
    assert.deepEqual(messages, [
      'failed login: wrong password alice 10.9.8.7',
      'failed login: wrong password alice 10.9.8.7',
      'login locked out: too many failed logins for this user from this address alice 10.9.8.7',
      'failed login: no such user ghost 10.9.8.7',
      'failed login: no such user ghost2 10.9.8.7',
      'too many failed logins for users that do not exist from this address; their password checks are skipped for the lockout  10.9.8.7',
    ]);
    assert.ok(!lines.join('').includes('hunter2'));
  });

  it('does not let parallel guesses slip past the failure limit', async () => {
    const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'wonderland' }), maxFailures: 3 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => outcome(auth.authenticate(basic('alice', `guess${i}`), '6.6.6.6'))));
    assert.equal(results.filter((r) => r === 'UNAUTHORIZED').length, 3, 'only maxFailures passwords were tried');
    assert.equal(results.filter((r) => r === 'TOOMANYREQUESTS').length, 17);
  });

  it('without an access file lets every authenticated user do everything, anonymous nothing', async () => {
    const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'wonderland' }) });
    assert.doesNotThrow(() => auth.requireAuthorization({ user: 'alice' }, 'any/repo', ['pull', 'push', 'delete']));
    assert.ok(auth.canAccessCatalog({ user: 'alice' }));
    assert.equal(auth.canAccessCatalog({ user: null }), false);
    const error = thrown(() => auth.requireAuthorization({ user: null }, 'any/repo', ['pull']));
    assert.equal(error.descriptor.code, 'UNAUTHORIZED');
    assert.equal(error.headers['WWW-Authenticate'], 'Basic realm="regop"');
  });

  it('applies the access rules: DENIED for a user lacking a right, nothing for unlisted users', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'access.yaml'), ACCESS);
    const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'a', ci: 'c', eve: 'e' }, dir), accessFile: join(dir, 'access.yaml') });
    assert.doesNotThrow(() => auth.requireAuthorization({ user: 'alice' }, 'team-a/x/y', ['pull', 'push']));
    assert.doesNotThrow(() => auth.requireAuthorization({ user: 'ci' }, 'team-b/app', ['pull']));
    const denied = thrown(() => auth.requireAuthorization({ user: 'ci' }, 'team-b/app', ['pull', 'push']));
    assert.equal(denied.descriptor.code, 'DENIED');
    assert.equal(denied.httpStatus, 403);
    assert.equal(thrown(() => auth.requireAuthorization({ user: 'alice' }, 'team-b/app', ['pull'])).descriptor.code, 'DENIED');
    assert.equal(auth.authorize({ user: 'eve' }, 'team-a/app', 'pull'), false, 'authenticated but not listed: no rights');
    assert.equal(thrown(() => auth.requireAuthorization({ user: null }, 'team-a/app', ['pull'])).descriptor.code, 'UNAUTHORIZED');
  });

  it('lets anonymous clients pull, never push, when anonymous pull is on in the options or the access file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'access.yaml'), `anonymousPull: true\n${ACCESS}`);
    for (const options of [{ anonymousPull: true }, { accessFile: join(dir, 'access.yaml') }]) {
      const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'a' }), ...options });
      assert.ok(auth.authorize({ user: null }, 'any/repo', 'pull'));
      assert.ok(!auth.authorize({ user: null }, 'any/repo', 'push'));
      assert.ok(auth.canAccessCatalog({ user: null }));
      assert.equal(thrown(() => auth.requireAuthorization({ user: null }, 'any/repo', ['pull', 'push'])).descriptor.code, 'UNAUTHORIZED');
    }
  });

  it('gives a logged-in user at least what anonymous callers get', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'access.yaml'), `anonymousPull: true\n${ACCESS}`);
    const auth = await create({ htpasswdFile: htpasswdFile({ alice: 'a', eve: 'e' }, dir), accessFile: join(dir, 'access.yaml') });
    assert.ok(auth.authorize({ user: 'eve' }, 'team-b/app', 'pull'), 'a user without rules pulls like anonymous');
    assert.ok(auth.authorize({ user: 'alice' }, 'team-b/app', 'pull'), 'a user with rules elsewhere too');
    assert.equal(auth.authorize({ user: 'eve' }, 'team-b/app', 'push'), false);
    assert.equal(thrown(() => auth.requireAuthorization({ user: 'eve' }, 'team-b/app', ['pull', 'push'])).descriptor.code, 'DENIED');
  });

  it('picks up a new password when Kubernetes swaps the Secret symlink', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, '..v1'));
    htpasswdFile({ alice: 'one' }, join(dir, '..v1'));
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'htpasswd'), join(dir, 'htpasswd'));
    const auth = await create({ htpasswdFile: join(dir, 'htpasswd'), reloadIntervalMs: 5 });
    assert.deepEqual(await auth.authenticate(basic('alice', 'one'), 'a'), { user: 'alice' });

    mkdirSync(join(dir, '..v2'));
    htpasswdFile({ alice: 'two', bob: 'three' }, join(dir, '..v2'));
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await eventually(async () => (await outcome(auth.authenticate(basic('bob', 'three'), 'b'))) !== 'UNAUTHORIZED', 'bob to exist');
    assert.deepEqual(await auth.authenticate(basic('alice', 'two'), 'a'), { user: 'alice' });
    assert.equal(await outcome(auth.authenticate(basic('alice', 'one'), 'a')), 'UNAUTHORIZED', 'the remembered old password is gone');
  });

  it('keeps the previous users and rules when a file breaks, and logs without its content', async () => {
    const dir = tempDir();
    const htpasswd = htpasswdFile({ alice: 'wonderland' }, dir);
    const access = join(dir, 'access.yaml');
    writeFileSync(access, ACCESS);
    const { logger, lines } = capturingLogger();
    const auth = await create({ htpasswdFile: htpasswd, accessFile: access, reloadIntervalMs: 5 }, logger);

    writeFileSync(htpasswd, 'alice $2y$04$brokenbrokenbroken\n');
    writeFileSync(access, 'users: [[[ hunter2\n');
    await eventually(() => lines.filter((line) => line.includes('not reloaded')).length === 2, 'both errors logged');
    assert.deepEqual(await auth.authenticate(basic('alice', 'wonderland'), 'a'), { user: 'alice' });
    assert.ok(auth.authorize({ user: 'alice' }, 'team-a/app', 'push'));
    const stale = auth.staleFiles();
    assert.deepEqual(stale.map((file) => file.file), ['htpasswd', 'access'], 'both files are reported stale');
    for (const file of stale) assert.ok(file.since instanceof Date);
    const log = lines.join('') + JSON.stringify(stale);
    assert.doesNotMatch(log, /brokenbroken|hunter2/);

    writeFileSync(access, ACCESS.replace('[pull, push, delete]', '[pull]'));
    await eventually(() => !auth.authorize({ user: 'alice' }, 'team-a/app', 'push'), 'the fixed rules');
    assert.deepEqual(auth.staleFiles().map((file) => file.file), ['htpasswd'], 'a good access file is current again');
  });

  it('never puts passwords, hashes or the Authorization header into errors or logs', async () => {
    const dir = tempDir();
    const path = join(dir, 'htpasswd');
    const hash = bcrypt.hashSync('wonderland', 4);
    writeFileSync(path, `alice:${hash}\nold:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=\n`);
    const { logger, lines } = capturingLogger();
    const auth = await create({ htpasswdFile: path, maxFailures: 2 }, logger);
    const messages: string[] = [];
    for (const header of [basic('alice', 'hunter2'), basic('alice', 'hunter2'), basic('alice', 'hunter2')]) {
      await auth.authenticate(header, 'a').catch((error: RegistryError) => {
        messages.push(error.message, JSON.stringify(error.detail ?? null), JSON.stringify(error.headers));
      });
    }
    const everything = messages.join('\n') + lines.join('');
    assert.match(lines.join(''), /"user":"old".*not bcrypt/, 'the unsupported entry is named');
    for (const secret of ['hunter2', hash, 'EfatjsUqKYSrqv18O1FlA3hcIHI', basic('alice', 'hunter2').slice(6)]) {
      assert.ok(!everything.includes(secret), `leaked ${secret.slice(0, 8)}...`);
    }
  });

  it('fails to start on a missing or invalid file', async () => {
    const dir = tempDir();
    await assert.rejects(Authenticator.create({ htpasswdFile: join(dir, 'missing') }, pino({ level: 'silent' })), { code: 'ENOENT' });
    writeFileSync(join(dir, 'access.yaml'), 'users: 3\n');
    await assert.rejects(
      Authenticator.create({ htpasswdFile: htpasswdFile({ a: 'b' }, dir), accessFile: join(dir, 'access.yaml') }, pino({ level: 'silent' })),
      /users must be a list/,
    );
  });
});
