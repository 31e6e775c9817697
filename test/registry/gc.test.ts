// Retention and garbage collection against the running registry: what goes, what stays byte-identical, and
// that pushes during a collection never end up referencing a deleted blob.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath, startRegistry, type RunningRegistry } from '../support/registry.ts';
import { clientFor, type Client } from '../support/http.ts';
import { OCI_MANIFEST, pushBlob, pushImage, randomBlob, storageSnapshot, type Blob } from '../support/oci.ts';
import { ageAllBlobs, blobFile, plantGarbage } from './gc-storage.ts';

const run = promisify(execFile);
const admin = { name: 'admin', password: 'gc-admin-pw' };
const TOKEN = 'gc-test-token-0123456789';

let registry: RunningRegistry;
let client: Client;

function blobBytes(root: string): number {
  return Object.entries(storageSnapshot(root)).filter(([path]) => path.startsWith('blobs/')).reduce((sum, [, size]) => sum + size, 0);
}

async function adminPost(path: string, body: unknown): Promise<any> {
  const response = await fetchAdmin(path, body);
  assert.equal(response.status, 200, `${path}: ${response.body}`);
  return JSON.parse(response.body.toString());
}

async function fetchAdmin(path: string, body: unknown, token = TOKEN) {
  const response = await client.send('POST', path, {
    user: null,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: response.body };
}

/** Every tag of every repository resolves, and every blob its manifest names downloads with the right digest. */
async function brokenImages(): Promise<string[]> {
  const broken: string[] = [];
  const repositories = (await client.send('GET', '/v2/_catalog')).json().repositories as string[];
  for (const name of repositories) {
    const tags = ((await client.send('GET', `/v2/${name}/tags/list`)).json().tags ?? []) as string[];
    for (const tag of tags) {
      const manifest = await client.send('GET', `/v2/${name}/manifests/${tag}`, { headers: { accept: OCI_MANIFEST } });
      if (manifest.status !== 200) {
        broken.push(`${name}:${tag} manifest ${manifest.status}`);
        continue;
      }
      const document = manifest.json();
      for (const descriptor of [document.config, ...document.layers]) {
        const blob = await client.send('GET', `/v2/${name}/blobs/${descriptor.digest}`);
        const digest = `sha256:${createHash('sha256').update(blob.body).digest('hex')}`;
        if (blob.status !== 200 || digest !== descriptor.digest) broken.push(`${name}:${tag} blob ${descriptor.digest} ${blob.status}`);
      }
    }
  }
  return broken;
}

let tokenFile: string;

before(async () => {
  tokenFile = join(mkdtempSync(join(tmpdir(), 'regop-token-')), 'admin-token');
  writeFileSync(tokenFile, TOKEN);
  registry = await startRegistry({ tls: true, users: [admin], extraArgs: ['--admin-token-file', tokenFile] });
  client = clientFor(registry, admin);
});

after(async () => {
  await client?.close();
  await registry?.stop();
});

describe('retention and garbage collection', () => {
  it('refuses the admin API without the right token', async () => {
    assert.equal((await fetchAdmin('/admin/v1/gc', {}, 'wrong')).status, 401);
  });

  it('deletes an image by retention; the others still pull byte-identical and disk drops by its own blobs', async () => {
    const base = randomBlob(200_000);
    const images: Record<string, Blob> = {};
    const unique: Record<string, Blob> = {};
    for (const tag of ['keep-1', 'drop-1', 'keep-2']) {
      unique[tag] = randomBlob(300_000);
      images[tag] = await pushImage(client, 'gc/app', tag, [base, unique[tag]!]);
    }
    const before = blobBytes(registry.storageDir);
    const dry = await adminPost('/admin/v1/retention', { rules: { repositories: { include: ['gc/**'] }, keep: { tags: ['keep-*'] } }, dryRun: true });
    assert.deepEqual(dry.plan.repositories[0].deletedTags.map((t: any) => t.tag), ['drop-1']);
    assert.equal(blobBytes(registry.storageDir), before, 'a dry run changed the disk');
    assert.equal((await client.send('GET', '/v2/gc/app/manifests/drop-1')).status, 200);

    const result = await adminPost('/admin/v1/retention', {
      rules: { repositories: { include: ['gc/**'] }, keep: { tags: ['keep-*'] } }, gc: { enabled: true, gracePeriod: '0s' },
    });
    assert.equal(result.tagsDeleted, 1);
    assert.equal(result.manifestsDeleted, 1);
    assert.equal(result.gc.blobsDeleted, 3, 'the dropped image: its layer, its config and its manifest');
    assert.equal((await client.send('GET', '/v2/gc/app/manifests/drop-1')).status, 404);
    assert.equal((await client.send('HEAD', `/v2/gc/app/blobs/${unique['drop-1']!.digest}`)).status, 404);
    const freed = before - blobBytes(registry.storageDir);
    assert.equal(freed, result.gc.bytesFreed);
    assert.ok(freed >= 300_000 && freed < 300_000 + 10_000, `freed ${freed} bytes`);
    for (const tag of ['keep-1', 'keep-2']) {
      const layer = await client.send('GET', `/v2/gc/app/blobs/${unique[tag]!.digest}`);
      assert.ok(layer.body.equals(unique[tag]!.content));
      assert.ok((await client.send('GET', `/v2/gc/app/blobs/${base.digest}`)).body.equals(base.content));
    }
    assert.deepEqual(await brokenImages(), []);
  });

  it('keeps every image whole while pushes reusing layers go on during repeated collections', async () => {
    const shared = [randomBlob(50_000), randomBlob(50_000), randomBlob(50_000)];
    const old: Blob[] = [];
    for (let i = 0; i < 6; i++) old.push(await pushImage(client, 'gc/churn', `old-${i}`, [shared[i % 3]!, randomBlob(20_000)]));
    // make the old images garbage, aged past the grace period, so their layers (the shared ones too) are
    // candidates while new pushes reuse the shared layers
    for (const manifest of old) await client.send('DELETE', `/v2/gc/churn/manifests/${manifest.digest}`);
    ageAllBlobs(registry.storageDir, 3600);
    let pushing = true;
    let pushed = 0;
    const pusher = (async () => {
      while (pushing && pushed < 400) {
        await pushImage(client, 'gc/churn', `new-${pushed}`, [shared[pushed % 3]!, randomBlob(5_000)]);
        pushed++;
      }
    })();
    let collections = 0;
    let deleted = 0;
    try {
      const deadline = Date.now() + 8_000;
      while (Date.now() < deadline) {
        const report = await adminPost('/admin/v1/gc', { gracePeriod: '2s' });
        deleted += report.blobsDeleted;
        collections++;
      }
    } finally {
      pushing = false;
      await pusher;
    }
    assert.ok(pushed > 10 && collections > 3, `pushed ${pushed}, collections ${collections}`);
    assert.ok(deleted >= 12, `the old images' own layers and configs were not collected (${deleted})`);
    assert.deepEqual(await brokenImages(), []);
  });

  it('answers a second collection while one runs with 409 GC_IN_PROGRESS', async () => {
    // a dry run walks the store as a real one does, and leaves the garbage for the next pair of requests
    plantGarbage(registry.storageDir, 6000);
    const [first, second] = await Promise.all([
      fetchAdmin('/admin/v1/gc', { gracePeriod: '1h', dryRun: true }),
      new Promise((r) => setTimeout(r, 30)).then(() => fetchAdmin('/admin/v1/gc', { gracePeriod: '1h', dryRun: true })),
    ]);
    const statuses = [first.status, second.status].sort();
    assert.deepEqual(statuses, [200, 409], `${first.body} / ${second.body}`);
    const refused = [first, second].find((response) => response.status === 409)!;
    assert.equal(JSON.parse(refused.body.toString()).errors[0].code, 'GC_IN_PROGRESS');
    const retention = await Promise.all([
      fetchAdmin('/admin/v1/gc', { gracePeriod: '1h', dryRun: true }),
      new Promise((r) => setTimeout(r, 30)).then(() => fetchAdmin('/admin/v1/retention', {
        rules: { repositories: { include: ['none/**'] }, keep: { tags: ['*'] } }, gc: { enabled: true },
      })),
    ]);
    assert.deepEqual(retention.map((response) => response.status).sort(), [200, 409]);
    await adminPost('/admin/v1/gc', { gracePeriod: '0s' });
  });

  it('refuses unknown fields and a dryRun that is not a boolean, deleting nothing', async () => {
    const garbage = randomBlob(2048);
    await pushBlob(client, 'gc/strict', garbage);
    ageAllBlobs(registry.storageDir, 3600);
    const refused: Array<[string, unknown]> = [
      ['/admin/v1/gc', { dryRun: 'yes', gracePeriod: '0s' }],
      ['/admin/v1/gc', { dryrun: true, gracePeriod: '0s' }],
      ['/admin/v1/gc', { gracePeriod: 0 }],
      ['/admin/v1/gc', [true]],
      ['/admin/v1/retention', { rules: { keep: { tags: ['*'] } }, dryRun: 'yes', gc: { enabled: true, gracePeriod: '0s' } }],
      ['/admin/v1/retention', { rules: { keep: { tags: ['*'] } }, gc: { enabled: 'true', gracePeriod: '0s' } }],
      ['/admin/v1/retention', { rules: { keep: { tags: ['*'] } }, gc: { enabled: true, gracePeriod: '0s', dryRun: true } }],
      ['/admin/v1/retention', { rules: { keep: { tags: ['*'] } }, gc: true }],
      ['/admin/v1/retention', { rules: { keep: { tags: ['*'] } }, dry_run: true, gc: { enabled: true, gracePeriod: '0s' } }],
    ];
    for (const [path, body] of refused) {
      const response = await fetchAdmin(path, body);
      assert.ok(response.status >= 400 && response.status < 500, `${path} ${JSON.stringify(body)}: ${response.status} ${response.body}`);
      assert.match(JSON.parse(response.body.toString()).errors[0].message, /dryRun|unknown field|gracePeriod|JSON object|enabled/, String(response.body));
      assert.equal(response.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.equal(JSON.parse(response.body.toString()).errors[0].code, 'ADMIN_REQUEST_INVALID');
    }
    assert.ok(existsSync(blobFile(registry.storageDir, garbage.digest)), 'a refused request deleted a blob');
    const dry = await adminPost('/admin/v1/gc', { dryRun: true, gracePeriod: '0s' });
    assert.ok(dry.dryRun && dry.blobsDeleted >= 1);
    assert.ok(existsSync(blobFile(registry.storageDir, garbage.digest)));
  });

  it('runs from the command line against the server, and offline on a stopped one', async () => {
    const image = await pushImage(client, 'gc/cli', 'only', [randomBlob(40_000)]);
    await client.send('DELETE', `/v2/gc/cli/manifests/${image.digest}`);
    const online = await run(process.execPath, [cliPath, 'gc', '--server', registry.url, '--token-file', tokenFile,
      '--ca-file', registry.caFile!, '--grace-period', '0s', '--dry-run']);
    const dry = JSON.parse(online.stdout);
    assert.equal(dry.dryRun, true);
    assert.ok(dry.blobsDeleted >= 3, `dry run would delete ${dry.blobsDeleted}`);
    const storage = registry.storageDir;
    await registry.kill();
    const offline = await run(process.execPath, [cliPath, 'gc', '--storage', storage, '--grace-period', '0s']);
    assert.equal(JSON.parse(offline.stdout).blobsDeleted, dry.blobsDeleted);
    assert.ok(!Object.keys(storageSnapshot(storage)).some((path) => path.endsWith(image.digest.slice(7))));
  });
});
