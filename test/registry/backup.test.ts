// Backup and restore, as an operator runs them: images pushed by real clients (crane, skopeo, oras: an image, a
// multi-platform index, a referrer), backed up through the serving registry's admin API, backed up again after one
// more push (only the new blobs are copied), restored with the CLI into an empty store, and served again by a new
// registry process, where every image is fetched with its digests verified. Pushes running during backups are
// wholly in a snapshot or wholly out of it. A corrupt source blob fails the backup and leaves no snapshot.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cliPath, startRegistry, type RunningRegistry } from '../support/registry.ts';
import { startS3Server, type S3Server } from '../support/s3-server.ts';
import { isolatedHome, run, withRegistryLogs } from './tools.ts';

const execFileAsync = promisify(execFile);
const TOKEN = 'backup-test-token-0123456789';
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

let registry: RunningRegistry;
let work: string;
let env: Record<string, string>;
let tokenFile: string;

interface Snapshot {
  id: string;
  repositories: Array<{ name: string; tags: Record<string, { digest: string; pushedAt: string }>; manifests: Array<{ digest: string; blobs: string[]; manifests: string[] }> }>;
  blobs: Record<string, number>;
}

async function backup(body: unknown, target = registry): Promise<{ status: number; json: any }> {
  const response = await fetch(`${target.url}/admin/v1/backup`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text) };
}

async function backupOk(destination: unknown, keep?: number): Promise<any> {
  const { status, json } = await backup({ destination, ...(keep ? { keep } : {}) });
  assert.equal(status, 200, JSON.stringify(json));
  return json;
}

/** the regop-registry CLI, as an operator types it; resolves with exit code and output */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [cliPath, ...args], { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** a tar layer holding one file of `size` random bytes, for crane append */
function layerTar(name: string, size: number): string {
  const dir = mkdtempSync(join(work, 'layer-'));
  writeFileSync(join(dir, name), randomBytes(size));
  const tar = join(work, `${name}.tar`);
  const result = spawnSync('tar', ['-cf', tar, '-C', dir, name]);
  if (result.status !== 0) throw new Error(`tar exited ${result.status}: ${result.stderr}`);
  return tar;
}

/** crane pushes a one-layer image (scratch base); returns its digest */
async function cranePush(reference: string, layerBytes: number): Promise<string> {
  const tar = layerTar(`file-${randomBytes(4).toString('hex')}`, layerBytes);
  await run('crane', ['append', '--insecure', '-f', tar, '-t', `${registry.host}/${reference}`], { env });
  return (await run('crane', ['digest', '--insecure', `${registry.host}/${reference}`], { env })).stdout.trim();
}

/** An OCI layout with an index of two platform images sharing a layer, which skopeo copies whole. */
function multiPlatformLayout(dir: string): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (content: Buffer | string) => {
    const digest = sha256(content);
    writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), content);
    return { digest, size: Buffer.byteLength(content) };
  };
  const shared = put(randomBytes(64 * 1024));
  const manifests = ['amd64', 'arm64'].map((architecture) => {
    const own = put(randomBytes(32 * 1024));
    const config = put(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const manifest = put(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [shared, own].map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer })),
    }));
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { architecture, os: 'linux' } };
  });
  const index = put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }],
  }));
}

/**
 * Fetches a manifest and everything it references from a registry, each checked against its digest: index
 * children, config and layers. Returns the problems found (empty: the image is whole).
 */
async function verifyImage(base: string, repository: string, reference: string, expectedDigest?: string): Promise<string[]> {
  const problems: string[] = [];
  const manifest = await fetch(`${base}/v2/${repository}/manifests/${reference}`, { headers: { accept: MANIFEST_TYPES } });
  const body = Buffer.from(await manifest.arrayBuffer());
  if (manifest.status !== 200) return [`${repository}:${reference} manifest ${manifest.status}`];
  if (expectedDigest && sha256(body) !== expectedDigest) problems.push(`${repository}:${reference} digest ${sha256(body)} != ${expectedDigest}`);
  const document = JSON.parse(body.toString('utf8'));
  for (const child of document.manifests ?? []) problems.push(...await verifyImage(base, repository, child.digest, child.digest));
  for (const descriptor of [document.config, ...(document.layers ?? [])].filter(Boolean)) {
    const blob = await fetch(`${base}/v2/${repository}/blobs/${descriptor.digest}`);
    const bytes = Buffer.from(await blob.arrayBuffer());
    if (blob.status !== 200 || sha256(bytes) !== descriptor.digest || bytes.length !== descriptor.size) {
      problems.push(`${repository}@${descriptor.digest}: ${blob.status}, ${bytes.length} bytes hashing to ${sha256(bytes)}`);
    }
  }
  return problems;
}

/** every tag of every repository the registry lists, with the digest it names */
async function tagsOf(base: string): Promise<Map<string, string>> {
  const tags = new Map<string, string>();
  const catalog = await (await fetch(`${base}/v2/_catalog`)).json() as { repositories: string[] };
  for (const repository of catalog.repositories) {
    const list = await (await fetch(`${base}/v2/${repository}/tags/list`)).json() as { tags: string[] | null };
    for (const tag of list.tags ?? []) {
      const head = await fetch(`${base}/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_TYPES } });
      tags.set(`${repository}:${tag}`, head.headers.get('docker-content-digest')!);
    }
  }
  return tags;
}

function readSnapshot(dir: string, id: string): Snapshot {
  return JSON.parse(readFileSync(join(dir, 'snapshots', `${id}.json`), 'utf8')) as Snapshot;
}

const blobFile = (root: string, digest: string) => join(root, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));

/** blob files already hashed: content-addressed files never change, so each is read once however many snapshots name it */
const verifiedFiles = new Set<string>();

/** Every tag in the snapshot names a recorded manifest whose blobs the snapshot lists and the destination holds intact. */
function brokenTagsIn(dir: string, snapshot: Snapshot): string[] {
  const intact = (file: string, digest: string) => {
    if (verifiedFiles.has(file)) return true;
    if (!existsSync(file) || sha256(readFileSync(file)) !== digest) return false;
    verifiedFiles.add(file);
    return true;
  };
  const broken: string[] = [];
  for (const repository of snapshot.repositories) {
    const records = new Map(repository.manifests.map((record) => [record.digest, record]));
    for (const [tag, { digest }] of Object.entries(repository.tags)) {
      const needed = [digest];
      for (let i = 0; i < needed.length; i++) {
        const record = records.get(needed[i]!);
        if (!record) {
          broken.push(`${repository.name}:${tag}: no record of ${needed[i]}`);
          continue;
        }
        needed.push(...record.manifests);
        for (const blob of [record.digest, ...record.blobs]) {
          const file = blobFile(dir, blob);
          if (!(blob in snapshot.blobs) || !intact(file, blob)) broken.push(`${repository.name}:${tag}: blob ${blob}`);
        }
      }
    }
  }
  return broken;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'regop-backup-'));
  env = isolatedHome();
  tokenFile = join(work, 'admin-token');
  writeFileSync(tokenFile, TOKEN);
  registry = await startRegistry({ extraArgs: ['--admin-token-file', tokenFile] });
});

after(async () => {
  await registry?.stop();
  for (const dir of [work, env?.HOME]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('backup and restore', () => {
  let destination: string;
  const pushed = new Map<string, string>();

  it('backs up an image, a multi-platform index and a referrer pushed by real clients, through the admin API', () => withRegistryLogs(registry, async () => {
    pushed.set('team/app:v1', await cranePush('team/app:v1', 300 * 1024));
    const layout = join(work, 'multi');
    multiPlatformLayout(layout);
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${registry.host}/team/multi:1`], { env });
    pushed.set('team/multi:1', (await run('crane', ['digest', '--insecure', `${registry.host}/team/multi:1`], { env })).stdout.trim());
    const sbomDir = mkdtempSync(join(work, 'sbom-'));
    writeFileSync(join(sbomDir, 'sbom.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'app' }));
    await run('oras', ['attach', '--plain-http', '--artifact-type', 'application/spdx+json', `${registry.host}/team/app:v1`, 'sbom.json:application/json'], { env, cwd: sbomDir });

    destination = join(work, 'backups');
    const report = await backupOk({ root: destination });
    // app (1 manifest), its SBOM referrer (1), the index and its two platform manifests (3)
    assert.equal(report.images, 5, JSON.stringify(report));
    assert.equal(report.tags, 2);
    assert.equal(report.repositories, 2);
    assert.equal(report.blobsSkipped, 0);
    assert.ok(report.blobsCopied >= 11 && report.bytesCopied > 300 * 1024, JSON.stringify(report));
    const snapshot = readSnapshot(destination, report.snapshot);
    assert.deepEqual(brokenTagsIn(destination, snapshot), []);
    const copiedBytes = Object.values(snapshot.blobs).reduce((sum, size) => sum + size, 0);
    assert.equal(report.bytesCopied, copiedBytes, 'every blob the snapshot names was copied once');
    const runs = JSON.parse(readFileSync(join(registry.storageDir, '_runs', 'backup.json'), 'utf8'));
    assert.equal(runs[0].result, 'succeeded');
    assert.equal(runs[0].snapshot, report.snapshot);
  }));

  it('a second backup after one more push copies only the new image\'s blobs', () => withRegistryLogs(registry, async () => {
    pushed.set('team/app:v2', await cranePush('team/app:v2', 200 * 1024));
    const manifest = await fetch(`${registry.url}/v2/team/app/manifests/v2`, { headers: { accept: MANIFEST_TYPES } });
    const body = Buffer.from(await manifest.arrayBuffer());
    const document = JSON.parse(body.toString('utf8'));
    // crane's image on a scratch base: the manifest, its config and its one layer are new
    const newBytes = body.length + document.config.size + document.layers[0].size;
    const report = await backupOk({ root: destination });
    assert.equal(report.blobsCopied, 3, JSON.stringify(report));
    assert.equal(report.bytesCopied, newBytes);
    assert.ok(report.blobsSkipped >= 11, JSON.stringify(report));
    assert.equal(report.images, 6);
    assert.equal(report.tags, 3);
    assert.equal(readdirSync(join(destination, 'snapshots')).length, 2);
  }));

  it('restores into an empty store with the CLI; a new registry serves every image with its digests, the referrer too', async () => {
    const restored = join(work, 'restored');
    const result = await cli(['restore', '--storage', restored, '--from', destination]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.images, 6);
    assert.equal(report.tags, 3);
    const second = await startRegistry({ storageDir: restored });
    try {
      await withRegistryLogs(second, async () => {
        assert.deepEqual(await tagsOf(second.url), await tagsOf(registry.url), 'the same tags name the same digests');
        for (const [reference, digest] of pushed) {
          const [repository, tag] = reference.split(':') as [string, string];
          assert.deepEqual(await verifyImage(second.url, repository, tag, digest), []);
        }
        // a real client's check of the images crane pushed (real gzip tar layers; the index's are random bytes):
        // every layer fetched and verified against its digest and its config's diff_id
        for (const reference of ['team/app:v1', 'team/app:v2']) {
          await run('crane', ['validate', '--insecure', '--remote', `${second.host}/${reference}`], { env });
        }
        const referrers = await (await fetch(`${second.url}/v2/team/app/referrers/${pushed.get('team/app:v1')}`)).json() as { manifests: Array<{ artifactType: string }> };
        assert.deepEqual(referrers.manifests.map((m) => m.artifactType), ['application/spdx+json']);
      });
    } finally {
      await second.stop();
    }

    const refused = await cli(['restore', '--storage', restored, '--from', destination]);
    assert.notEqual(refused.code, 0, 'a store that holds content is refused');
    assert.match(refused.stderr, /not empty.*--force/);
    const forced = await cli(['restore', '--storage', restored, '--from', destination, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(JSON.parse(forced.stdout).blobsCopied, 0, 'blobs already there are not copied again');
  });

  it('restores into a serving registry whose store is empty through its admin API (a new Registry in a cluster), and refuses one that is not', async () => {
    const fresh = await startRegistry({ extraArgs: ['--admin-token-file', tokenFile] });
    try {
      await withRegistryLogs(fresh, async () => {
        const [someReference] = pushed.keys();
        const [repository, tag] = someReference!.split(':') as [string, string];
        // asked before the restore: nothing the registry remembers of its empty store may hide what comes
        assert.equal((await fetch(`${fresh.url}/v2/${repository}/manifests/${tag}`, { headers: { accept: MANIFEST_TYPES } })).status, 404);
        assert.deepEqual(await tagsOf(fresh.url), new Map());

        const restored = await cli(['restore', '--server', fresh.url, '--token-file', tokenFile, '--from', destination]);
        assert.equal(restored.code, 0, restored.stderr);
        assert.equal(JSON.parse(restored.stdout).images, 6);
        assert.deepEqual(await tagsOf(fresh.url), await tagsOf(registry.url), 'the same tags name the same digests, in the catalog too');
        for (const [reference, digest] of pushed) {
          const [name, reference_] = reference.split(':') as [string, string];
          assert.deepEqual(await verifyImage(fresh.url, name, reference_, digest), []);
        }

        const again = await cli(['restore', '--server', fresh.url, '--token-file', tokenFile, '--from', destination]);
        assert.notEqual(again.code, 0, 'a serving registry that holds content was restored into');
        assert.match(again.stderr, /not empty/);
        const forced = await cli(['restore', '--server', fresh.url, '--token-file', tokenFile, '--from', destination, '--force']);
        assert.notEqual(forced.code, 0);
        assert.match(forced.stderr, /--force is for the offline restore/);
      });
    } finally {
      await fresh.stop();
    }
  });

  it('restores an older snapshot by id, and lists the snapshots newest first', async () => {
    const listed = await cli(['restore', '--from', destination, '--list']);
    const ids = JSON.parse(listed.stdout).snapshots as string[];
    assert.equal(ids.length, 2);
    assert.ok(ids[0]! > ids[1]!);
    const older = join(work, 'older');
    const result = await cli(['restore', '--storage', older, '--from', destination, '--snapshot', ids[1]!]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).tags, 2, 'the first backup had two tags');
    assert.ok(!existsSync(join(older, 'repositories', 'team', 'app', '_tags', 'v2')));
    const unknown = await cli(['restore', '--storage', join(work, 'never'), '--from', destination, '--snapshot', '2001-01-01T00-00-00.000Z']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no snapshot 2001-01-01T00-00-00\.000Z/);
  });

  it('keep deletes older snapshots and then the blobs no kept snapshot needs', () => withRegistryLogs(registry, async () => {
    const keepDir = join(work, 'keep');
    const v3 = await cranePush('team/gone:v3', 100 * 1024);
    await backupOk({ root: keepDir });
    const goneLayer = JSON.parse(readFileSync(blobFile(keepDir, v3), 'utf8')).layers[0].digest as string;
    const deleted = await fetch(`${registry.url}/v2/team/gone/manifests/${v3}`, { method: 'DELETE' });
    assert.equal(deleted.status, 202);
    await backupOk({ root: keepDir });
    // what a crashed backup leaves: a temporary copy, two days old
    const leftover = join(keepDir, 'tmp', 'crashed-copy');
    mkdirSync(join(keepDir, 'tmp'), { recursive: true });
    writeFileSync(leftover, randomBytes(1024));
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    utimesSync(leftover, twoDaysAgo, twoDaysAgo);
    const report = await backupOk({ root: keepDir }, 1);
    assert.equal(report.pruned.temporariesRemoved, 1);
    assert.ok(!existsSync(leftover));
    assert.equal(report.pruned.snapshotsDeleted.length, 2);
    assert.ok(report.pruned.blobsDeleted >= 3, JSON.stringify(report.pruned));
    assert.ok(!existsSync(blobFile(keepDir, goneLayer)), 'the deleted image\'s layer left the backup');
    assert.deepEqual(brokenTagsIn(keepDir, readSnapshot(keepDir, report.snapshot)), []);
  }));

  it('pushes running during backups are wholly in each snapshot or wholly out', () => withRegistryLogs(registry, async () => {
    const dir = join(work, 'concurrent');
    let pushing = true;
    const pushes = (async () => {
      try {
        for (let i = 0; i < 8; i++) await cranePush(`race/app:t${i}`, 512 * 1024);
      } finally {
        pushing = false;
      }
    })();
    const ids: string[] = [];
    while (pushing) ids.push((await backupOk({ root: dir })).snapshot);
    await pushes;
    ids.push((await backupOk({ root: dir })).snapshot);
    const tagCounts: number[] = [];
    for (const id of ids) {
      const snapshot = readSnapshot(dir, id);
      assert.deepEqual(brokenTagsIn(dir, snapshot), [], `snapshot ${id}`);
      tagCounts.push(Object.keys(snapshot.repositories.find((r) => r.name === 'race/app')?.tags ?? {}).length);
    }
    assert.equal(tagCounts.at(-1), 8, `tags of race/app per snapshot: ${tagCounts.join(' ')}`);
    // a snapshot taken while pushes ran, restored and served: each of its tags pulls whole
    const middle = ids[Math.floor((ids.length - 1) / 2)]!;
    const restored = join(work, 'race-restored');
    const result = await cli(['restore', '--storage', restored, '--from', dir, '--snapshot', middle]);
    assert.equal(result.code, 0, result.stderr);
    const served = await startRegistry({ storageDir: restored });
    try {
      for (const [reference, digest] of await tagsOf(served.url)) {
        const [repository, tag] = reference.split(':') as [string, string];
        assert.deepEqual(await verifyImage(served.url, repository, tag, digest), []);
      }
    } finally {
      await served.stop();
    }
  }));

  it('holds garbage collection off while it copies: a GC asked meanwhile gets 409, and runs once the backup is done', () => withRegistryLogs(registry, async () => {
    const dir = mkdtempSync(join(work, 'big-'));
    writeFileSync(join(dir, 'big.bin'), randomBytes(128 * 1024 * 1024));
    await run('oras', ['push', '--plain-http', `${registry.host}/team/big:1`, 'big.bin:application/octet-stream'], { env, cwd: dir });
    rmSync(dir, { recursive: true });
    const destination = join(work, 'held');
    const backingUp = backup({ destination: { root: destination } });
    // a copy under way in the destination: the backup holds the collector's slot
    const copying = () => existsSync(join(destination, 'tmp')) && readdirSync(join(destination, 'tmp')).length > 0;
    for (const started = Date.now(); !copying(); await new Promise((resolve) => setTimeout(resolve, 5))) {
      assert.ok(Date.now() - started < 30_000, 'the backup never started copying');
    }
    const gc = await fetch(`${registry.url}/admin/v1/gc`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{}',
    });
    const refused = await gc.json() as { errors: Array<{ code: string; message: string }> };
    assert.equal(gc.status, 409);
    assert.equal(refused.errors[0]!.code, 'GC_IN_PROGRESS');
    assert.match(refused.errors[0]!.message, /a backup is running/);
    const { status, json } = await backingUp;
    assert.equal(status, 200, JSON.stringify(json));
    assert.ok(json.bytesCopied >= 128 * 1024 * 1024);
    const after = await fetch(`${registry.url}/admin/v1/gc`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{"dryRun": true}',
    });
    assert.equal(after.status, 200, await after.text());
  }));

  it('the CLI asks the serving registry, as the operator\'s Job does, and writes the summary the operator reads', async () => {
    const destinationFile = join(work, 'destination.yaml');
    writeFileSync(destinationFile, `root: ${join(work, 'from-cli')}\n`);
    const terminationLog = join(work, 'termination-log');
    const result = await cli(['backup', '--to-config', destinationFile, '--keep', '2', '--server', registry.url, '--token-file', tokenFile,
      '--termination-log', terminationLog]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    const summary = JSON.parse(readFileSync(terminationLog, 'utf8'));
    for (const field of ['snapshot', 'images', 'tags', 'blobsCopied', 'bytesCopied', 'bytesSkipped']) {
      assert.equal(summary[field], report[field], field);
    }
    assert.ok(existsSync(join(work, 'from-cli', 'snapshots', `${report.snapshot}.json`)));
    const failed = await cli(['backup', '--to', join(work, 'y'), '--keep', '0', '--server', registry.url, '--token-file', tokenFile,
      '--termination-log', terminationLog]);
    assert.equal(failed.code, 1);
    assert.match(JSON.parse(readFileSync(terminationLog, 'utf8')).error, /--keep must be a whole number/);
  });

  it('refuses bad input with a clear error, and nothing runs', async () => {
    const unknownKey = await backup({ destination: { rot: '/backups' } });
    assert.equal(unknownKey.status, 400);
    assert.equal(unknownKey.json.errors[0].code, 'ADMIN_REQUEST_INVALID');
    assert.match(unknownKey.json.errors[0].message, /unknown key destination\.rot/);
    const keep = await backup({ destination: { root: join(work, 'x') }, keep: 0 });
    assert.equal(keep.status, 400);
    assert.match(keep.json.errors[0].message, /keep must be a whole number/);
    const none = await backup({ keep: 2 });
    assert.match(none.json.errors[0].message, /destination is required/);
    const noToken = await fetch(`${registry.url}/admin/v1/backup`, { method: 'POST', body: '{}' });
    assert.equal(noToken.status, 401);
    assert.ok(!existsSync(join(work, 'x', 'snapshots')));
  });

  it('backs up to an S3 bucket and restores from it', async () => {
    const s3: S3Server = await startS3Server();
    try {
      await s3.createBucket('backups');
      const s3Location = { s3: { bucket: 'backups', prefix: 'team-a', endpoint: s3.endpoint, region: s3.region, ...s3.writeCredentialFiles() } };
      const first = await backupOk(s3Location);
      assert.equal(first.blobsSkipped, 0);
      const second = await backupOk(s3Location);
      assert.equal(second.blobsCopied, 0, 'nothing new: nothing copied');
      assert.equal(second.bytesSkipped, first.bytesCopied);
      const locationFile = join(work, 's3-source.yaml');
      writeFileSync(locationFile, JSON.stringify(s3Location));
      const restored = join(work, 's3-restored');
      const result = await cli(['restore', '--storage', restored, '--from-config', locationFile]);
      assert.equal(result.code, 0, result.stderr);
      const served = await startRegistry({ storageDir: restored });
      try {
        for (const [reference, digest] of await tagsOf(registry.url)) {
          const [repository, tag] = reference.split(':') as [string, string];
          assert.deepEqual(await verifyImage(served.url, repository, tag, digest), []);
        }
      } finally {
        await served.stop();
      }
    } finally {
      await s3.stop();
    }
  });

  it('a corrupt blob in the registry fails the backup clearly, writes no snapshot, and is recorded as failed', () => withRegistryLogs(registry, async () => {
    const digest = await cranePush('team/corrupt:1', 64 * 1024);
    const layer = JSON.parse(readFileSync(blobFile(registry.storageDir, digest), 'utf8')).layers[0].digest as string;
    const file = blobFile(registry.storageDir, layer);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff; // same size, other content: only hashing finds it
    writeFileSync(file, bytes);
    const dir = join(work, 'corrupt');
    const { status, json } = await backup({ destination: { root: dir } });
    assert.equal(status, 500);
    assert.match(json.errors[0].message, new RegExp(`backup failed: team/corrupt: manifest ${digest}: blob ${layer} in the source is corrupt`));
    assert.ok(!existsSync(join(dir, 'snapshots')) || readdirSync(join(dir, 'snapshots')).length === 0, 'no snapshot was written');
    assert.ok(!existsSync(blobFile(dir, layer)), 'the corrupt bytes were not kept under the digest');
    const runs = JSON.parse(readFileSync(join(registry.storageDir, '_runs', 'backup.json'), 'utf8'));
    assert.equal(runs[0].result, 'failed');
    assert.match(runs[0].error, /corrupt/);
    const offline = await cli(['backup', '--storage', registry.storageDir, '--to', join(work, 'offline')]);
    assert.equal(offline.code, 1);
    assert.match(offline.stderr, /in the source is corrupt/);
  }));
});

describe('backup of a registry on S3 storage with two replicas', () => {
  let s3: S3Server;
  let a: RunningRegistry;
  let b: RunningRegistry;

  before(async () => {
    s3 = await startS3Server();
    await s3.createBucket('shared');
    const options = { storage: { s3: { server: s3, bucket: 'shared' } }, extraArgs: ['--admin-token-file', tokenFile] };
    a = await startRegistry(options);
    b = await startRegistry(options);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await s3?.stop();
  });

  it('holds the other replica\'s garbage collection off through the fence while it copies, and restores whole into a bucket', () => withRegistryLogs(a, async () => {
    const dir = mkdtempSync(join(work, 'replica-push-'));
    writeFileSync(join(dir, 'big.bin'), randomBytes(64 * 1024 * 1024));
    await run('oras', ['push', '--plain-http', `${a.host}/team/shared:1`, 'big.bin:application/octet-stream'], { env, cwd: dir });
    rmSync(dir, { recursive: true });
    const digest = (await run('crane', ['digest', '--insecure', `${a.host}/team/shared:1`], { env })).stdout.trim();
    const destination = join(work, 'replica-backup');
    const backingUp = backup({ destination: { root: destination } }, a);
    const copying = () => existsSync(join(destination, 'tmp')) && readdirSync(join(destination, 'tmp')).length > 0;
    for (const started = Date.now(); !copying(); await new Promise((resolve) => setTimeout(resolve, 5))) {
      assert.ok(Date.now() - started < 30_000, 'the backup never started copying');
    }
    const gc = await fetch(`${b.url}/admin/v1/gc`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{"gracePeriod": "0s"}',
    });
    assert.equal(gc.status, 409, await gc.text());
    const { status, json } = await backingUp;
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.tags, 1);
    // restored into a new bucket, as a registry on S3 is, through its config file
    await s3.createBucket('restored');
    const config = join(work, 'restored-registry.yaml');
    writeFileSync(config, JSON.stringify({ storage: { s3: { bucket: 'restored', endpoint: s3.endpoint, region: s3.region, ...s3.writeCredentialFiles() } } }));
    const result = await cli(['restore', '--config', config, '--from', destination]);
    assert.equal(result.code, 0, result.stderr);
    const served = await startRegistry({ storage: { s3: { server: s3, bucket: 'restored' } } });
    try {
      assert.deepEqual(await withRegistryLogs(served, () => verifyImage(served.url, 'team/shared', '1', digest)), []);
    } finally {
      await served.stop();
    }
    const again = await cli(['restore', '--config', config, '--from', destination]);
    assert.notEqual(again.code, 0, 'a bucket that holds content is refused');
  }));
});
