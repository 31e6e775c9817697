// Authentication under attack, against a real registry process: failed logins lock out only the name they were
// for, X-Forwarded-For counts only from trusted proxies, a broken auth file is visible, anonymous rights are a floor.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startRegistry, type RunningRegistry, type StartOptions } from '../support/registry.ts';
import { clientFor, type Client } from '../support/http.ts';
import { pushImage, OCI_MANIFEST } from '../support/oci.ts';

const alice = { name: 'alice', password: 'alice-right' };
const bob = { name: 'bob', password: 'bob-right' };

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function configFile(yaml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'regop-cfg-')), 'registry.yaml');
  writeFileSync(path, yaml);
  return path;
}

async function withRegistry(options: StartOptions, test: (registry: RunningRegistry, client: Client) => Promise<void>): Promise<void> {
  const registry = await startRegistry(options);
  const client = clientFor(registry);
  try {
    await test(registry, client);
  } catch (error) {
    console.error(registry.logs().split('\n').slice(-40).join('\n'));
    throw error;
  } finally {
    await client.close();
    await registry.stop();
  }
}

const login = async (client: Client, user: { name: string; password: string }, headers: Record<string, string> = {}) =>
  (await client.send('GET', '/v2/', { user, headers })).status;

describe('registry auth hardening', () => {
  it('never refuses a correct password because of failed logins for other names from the same address', async () => {
    await withRegistry({ users: [alice, bob] }, async (registry, client) => {
      const failures = await Promise.all(Array.from({ length: 20 }, (_, i) => Promise.all([
        login(client, { name: 'ghost', password: `guess-${i}` }),
        login(client, { name: 'alice', password: `guess-${i}` }),
      ])));
      const statuses = new Set(failures.flat());
      assert.ok([...statuses].every((status) => status === 401 || status === 429), `failed logins got ${[...statuses]}`);
      assert.equal(await login(client, bob), 200, 'bob, whose name nobody guessed, logs in from the same address');
      // alice's own name was guessed past the limit: she waits out the lockout from this address
      const locked = await client.send('GET', '/v2/', { user: alice });
      assert.equal(locked.status, 429);
      assert.ok(Number(locked.headers['retry-after']) > 0);

      const logs = registry.logs();
      assert.match(logs, /"user":"ghost".*failed login: no such user/);
      assert.match(logs, /"user":"alice".*failed login: wrong password/);
      assert.match(logs, /"user":"alice".*login locked out/);
      assert.ok(!logs.includes('guess-'), 'no attempted password in the logs');
    });
  });

  it('takes the client address from X-Forwarded-For only when a trusted proxy sent it', async () => {
    const limits = 'maxFailedLogins: 3\n  lockout: 1m\n';
    const trusted = configFile(`auth:\n  ${limits}  trustedProxies: [127.0.0.1]\n`);
    await withRegistry({ users: [alice], extraArgs: ['--config', trusted] }, async (_registry, client) => {
      for (let i = 0; i < 3; i++) {
        assert.equal(await login(client, { ...alice, password: `guess-${i}` }, { 'x-forwarded-for': '203.0.113.7' }), 401);
      }
      assert.equal(await login(client, alice, { 'x-forwarded-for': '203.0.113.7' }), 429, 'the guessing client is locked out');
      assert.equal(await login(client, alice, { 'x-forwarded-for': '203.0.113.8' }), 200, 'another client behind the proxy is not');
      assert.equal(await login(client, alice, { 'x-forwarded-for': '198.51.100.1, 203.0.113.7' }), 429,
        'the address the trusted proxy appended counts, not what the client wrote before it');
    });

    const untrusted = configFile(`auth:\n  ${limits}  trustedProxies: [192.0.2.10, 10.0.0.0/8]\n`);
    await withRegistry({ users: [alice], extraArgs: ['--config', untrusted] }, async (_registry, client) => {
      for (let i = 0; i < 3; i++) {
        assert.equal(await login(client, { ...alice, password: `guess-${i}` }, { 'x-forwarded-for': `203.0.113.${i}` }), 401);
      }
      assert.equal(await login(client, alice, { 'x-forwarded-for': '203.0.113.99' }), 429,
        'an untrusted sender cannot pick a fresh address with the header');
    });
  });

  it('shows a broken access file in /metrics, /readyz and the log while the previous rules are served', async () => {
    const config = configFile('auth:\n  reloadInterval: 100ms\n');
    await withRegistry({ users: [alice], extraArgs: ['--config', config] }, async (registry, client) => {
      const metric = async (file: string) => {
        const body = (await client.send('GET', '/metrics', { user: null })).body.toString();
        const line = body.split('\n').find((l) => l.startsWith(`regop_registry_auth_reload_failed{file="${file}"}`));
        return line?.split(' ').at(-1);
      };
      assert.equal(await metric('access'), '0');
      assert.equal(await metric('htpasswd'), '0');
      const healthy = await client.send('GET', '/readyz', { user: null });
      assert.equal(healthy.body.toString(), 'ready\n');

      writeFileSync(join(registry.workDir, 'access.yaml'), 'users: [[[ revoked-but-secret\n');
      await waitFor('the metric to say the access file is stale', async () => (await metric('access')) === '1');
      assert.equal(await metric('htpasswd'), '0');
      const readyz = await client.send('GET', '/readyz', { user: null });
      assert.equal(readyz.status, 200, 'still serving, so still ready');
      const detail = readyz.body.toString();
      assert.match(detail, /^ready\nauth: access file failed to load at \d{4}-\d\d-\d\dT[\d:.]+Z: .*not valid YAML or JSON.*; serving the previous rules\n$/);
      assert.ok(!detail.includes('revoked-but-secret'));
      assert.match(registry.logs(), /access rules not reloaded; keeping the previous rules/);
      assert.ok(!registry.logs().includes('revoked-but-secret'));
      assert.equal(await login(client, alice), 200);

      writeFileSync(join(registry.workDir, 'access.yaml'), JSON.stringify({ users: [{ user: 'alice', rules: [] }] }));
      await waitFor('the metric to clear', async () => (await metric('access')) === '0');
      assert.equal((await client.send('GET', '/readyz', { user: null })).body.toString(), 'ready\n');
    });
  });

  it('lets a logged-in user without rules on a repository pull it when anonymous pull is on', async () => {
    const admin = { name: 'admin', password: 'admin-right' };
    const eve = { name: 'eve', password: 'eve-right', access: [{ repositories: ['eve/**'], actions: ['pull' as const, 'push' as const] }] };
    await withRegistry({ users: [admin, eve], anonymousPull: true }, async (registry, client) => {
      const adminClient = clientFor(registry, admin);
      await pushImage(adminClient, 'public/app', 'v1').finally(() => adminClient.close());
      const headers = { accept: OCI_MANIFEST };
      assert.equal((await client.send('GET', '/v2/public/app/manifests/v1', { user: null, headers })).status, 200);
      assert.equal((await client.send('GET', '/v2/public/app/manifests/v1', { user: eve, headers })).status, 200);
      assert.equal((await client.send('POST', '/v2/public/app/blobs/uploads/', { user: eve })).status, 403);
    });
  });
});
