// Running the registry as an operator would: files that change under it, shutdown, housekeeping.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, renameSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { request as httpRequest } from 'node:http';
import bcrypt from 'bcrypt';
import { startRegistry } from '../support/registry.ts';
import { clientFor } from '../support/http.ts';
import { makeTestCertificate } from '../support/tls.ts';
import { pushImage, randomBlob, OCI_MANIFEST } from '../support/oci.ts';

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function servedCertificatePem(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.destroy();
      resolve(raw.toString('base64'));
    });
    socket.on('error', reject);
  });
}

describe('registry operations', () => {
  it('serves a renewed TLS certificate without a restart', async () => {
    const registry = await startRegistry({ tls: true, extraArgs: [] });
    try {
      const before = await servedCertificatePem(registry.port);
      const renewed = await makeTestCertificate(['localhost', '127.0.0.1']);
      // Kubernetes swaps Secret files by renaming; do the same
      writeFileSync(join(registry.workDir, 'tls.key.new'), renewed.keyPem);
      writeFileSync(join(registry.workDir, 'tls.crt.new'), renewed.certPem);
      renameSync(join(registry.workDir, 'tls.key.new'), join(registry.workDir, 'tls.key'));
      renameSync(join(registry.workDir, 'tls.crt.new'), join(registry.workDir, 'tls.crt'));
      await waitFor('the new certificate', async () => (await servedCertificatePem(registry.port)) !== before, 20_000);
    } finally {
      await registry.stop();
    }
  });

  it('picks up a changed password from the htpasswd file: the new works, the old is refused', async () => {
    // a short reload interval, and polling slower than it, so the failed attempts stay under the lockout limit
    const config = join(mkdtempSync(join(tmpdir(), 'regop-cfg-')), 'registry.yaml');
    writeFileSync(config, 'auth:\n  reloadInterval: 200ms\n');
    const registry = await startRegistry({ users: [{ name: 'dev', password: 'old-password' }], extraArgs: ['--config', config] });
    const client = clientFor(registry);
    try {
      assert.equal((await client.send('GET', '/v2/', { user: { name: 'dev', password: 'old-password' } })).status, 200);
      writeFileSync(join(registry.workDir, 'htpasswd'), `dev:${bcrypt.hashSync('new-password', 5)}\n`);
      await waitFor('the new password', async () =>
        (await client.send('GET', '/v2/', { user: { name: 'dev', password: 'new-password' } })).status === 200, 10_000, 500);
      assert.equal((await client.send('GET', '/v2/', { user: { name: 'dev', password: 'old-password' } })).status, 401);
    } finally {
      await client.close();
      await registry.stop();
    }
  });

  it('lets anonymous clients pull, but not push, when anonymous pull is on', async () => {
    const admin = { name: 'admin', password: 'pw-admin' };
    const registry = await startRegistry({ users: [admin], anonymousPull: true });
    const client = clientFor(registry, admin);
    try {
      await pushImage(client, 'public/app', 'v1');
      const pull = await client.send('GET', '/v2/public/app/manifests/v1', { user: null, headers: { accept: OCI_MANIFEST } });
      assert.equal(pull.status, 200);
      const push = await client.send('POST', '/v2/public/app/blobs/uploads/', { user: null });
      assert.equal(push.status, 401);
    } finally {
      await client.close();
      await registry.stop();
    }
  });

  it('rate-limits repeated failed logins from one address with TOOMANYREQUESTS', async () => {
    const registry = await startRegistry({ users: [{ name: 'dev', password: 'right' }] });
    const client = clientFor(registry);
    try {
      let status = 0;
      for (let i = 0; i < 15 && status !== 429; i++) {
        status = (await client.send('GET', '/v2/', { user: { name: 'dev', password: `wrong-${i}` } })).status;
      }
      assert.equal(status, 429);
      const locked = await client.send('GET', '/v2/', { user: { name: 'dev', password: 'right' } });
      assert.equal(locked.status, 429);
      assert.ok(Number(locked.headers['retry-after']) > 0);
    } finally {
      await client.close();
      await registry.stop();
    }
  });

  it('finishes an in-flight upload on SIGTERM before exiting', async () => {
    const registry = await startRegistry({});
    const content = randomBlob(4 * 1024 * 1024);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${registry.url}/v2/drain/test/blobs/uploads/?digest=${content.digest}`, {
        method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': content.size },
      });
      req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.write(content.content.subarray(0, 1024 * 1024), () => {
        registry.child.kill('SIGTERM');
        setTimeout(() => req.end(content.content.subarray(1024 * 1024)), 300);
      });
    });
    assert.equal(status, 201);
    await new Promise((resolve) => (registry.child.exitCode !== null ? resolve(null) : registry.child.once('exit', resolve)));
    assert.equal(registry.child.exitCode, 0);
    const hex = content.digest.slice(7);
    assert.ok(existsSync(join(registry.storageDir, 'blobs', 'sha256', hex.slice(0, 2), hex)));
  });

  it('purges upload sessions idle for longer than the configured age', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'regop-cfg-')), 'registry.yaml');
    writeFileSync(config, 'storage:\n  uploadPurgeAge: 1s\n  uploadPurgeInterval: 200ms\n');
    const registry = await startRegistry({ extraArgs: ['--config', config] });
    const client = clientFor(registry);
    try {
      const start = await client.send('POST', '/v2/purge/me/blobs/uploads/');
      assert.equal((await client.send('GET', start.headers.location!)).status, 204);
      await waitFor('the session to be purged', async () => (await client.send('GET', start.headers.location!)).status === 404);
    } finally {
      await client.close();
      await registry.stop();
    }
  });
});
