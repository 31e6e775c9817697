// The data-safety promise of online garbage collection, under load: every image whose manifest PUT returned 201
// and that nobody deleted stays fully pullable (manifest and every blob, digests verified) after every
// collection. Pushers behave like real clients (HEAD a blob, upload it only when missing, then PUT the manifest),
// reuse layers of deleted images whose blobs are older than the grace period, and time some manifest PUTs to
// land just as a collection starts; collections run back to back with a zero and a short grace period; a puller
// verifies committed images meanwhile. Zero broken images is the only pass.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { clientFor, type Client } from '../support/http.ts';
import { OCI_MANIFEST, randomBlob, sha256, type Blob } from '../support/oci.ts';
import { ageAllBlobs, blobFile, makeImage, plantGarbage, signal, type Image } from './gc-storage.ts';

const admin = { name: 'admin', password: 'gc-stress-pw' };
const TOKEN = 'gc-stress-token-0123456789';
const PUSHERS = 2;
const IMAGES_PER_PUSHER = 30;
/** a client gives up an image after this many attempts (each one re-checks and re-uploads what is missing) */
const PUSH_ATTEMPTS = 20;

let registry: RunningRegistry;
let client: Client;

async function gc(gracePeriod: string): Promise<any> {
  const response = await client.send('POST', '/admin/v1/gc', {
    user: null,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ gracePeriod }),
  });
  assert.equal(response.status, 200, `gc: ${response.status} ${response.body}`);
  return response.json();
}

/** What a registry client does for each blob: HEAD, and upload only when the registry does not have it. */
async function ensureBlobs(image: Image): Promise<void> {
  for (const content of image.blobs) {
    const head = await client.send('HEAD', `/v2/${image.repository}/blobs/${content.digest}`);
    if (head.status === 200) continue;
    const upload = await client.send('POST', `/v2/${image.repository}/blobs/uploads/?digest=${content.digest}`, {
      headers: { 'content-type': 'application/octet-stream' }, body: content.content,
    });
    assert.equal(upload.status, 201, `upload ${content.digest}: ${upload.status} ${upload.body}`);
  }
}

async function putManifest(image: Image): Promise<number> {
  const response = await client.send('PUT', `/v2/${image.repository}/manifests/${image.tag}`, {
    headers: { 'content-type': OCI_MANIFEST }, body: image.manifest.content,
  });
  // a blob swept between the client's check and its manifest PUT is reported, never silently accepted
  if (response.status !== 201 && response.json().errors?.[0]?.code !== 'MANIFEST_BLOB_UNKNOWN') {
    assert.fail(`manifest PUT ${image.repository}:${image.tag}: ${response.status} ${response.body}`);
  }
  return response.status;
}

/** Problems of one image, empty when its manifest and every blob download with the right digests. */
async function verify(image: Image): Promise<string[]> {
  const problems: string[] = [];
  const name = `${image.repository}:${image.tag}`;
  for (const reference of [image.tag, image.manifest.digest]) {
    const manifest = await client.send('GET', `/v2/${image.repository}/manifests/${reference}`, { headers: { accept: OCI_MANIFEST } });
    if (manifest.status !== 200 || sha256(manifest.body) !== image.manifest.digest) problems.push(`${name} manifest ${reference}: ${manifest.status}`);
  }
  for (const content of image.blobs) {
    const response = await client.send('GET', `/v2/${image.repository}/blobs/${content.digest}`);
    const digest = `sha256:${createHash('sha256').update(response.body).digest('hex')}`;
    if (response.status !== 200 || digest !== content.digest) problems.push(`${name} blob ${content.digest}: ${response.status} ${response.body.toString().slice(0, 120)}`);
  }
  return problems;
}

before(async () => {
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'regop-token-')), 'admin-token');
  writeFileSync(tokenFile, TOKEN);
  registry = await startRegistry({ users: [admin], extraArgs: ['--admin-token-file', tokenFile, '--log-level', 'warn'] });
  client = clientFor(registry, admin);
});

after(async () => {
  await client?.close();
  await registry?.stop();
});

describe('garbage collection under load', () => {
  it('keeps an image whole that is pushed again while a collection deletes its old layers', async () => {
    // images pushed, their manifests deleted, their blobs aged past the grace period: garbage to this run
    const images: Image[] = [];
    for (let i = 0; i < 4; i++) {
      const image = makeImage('stress/repush', `v${i}`, [randomBlob(4096)]);
      await ensureBlobs(image);
      assert.equal(await putManifest(image), 201);
      assert.equal((await client.send('DELETE', `/v2/${image.repository}/manifests/${image.manifest.digest}`)).status, 202);
      images.push(image);
    }
    plantGarbage(registry.storageDir, 8000);
    ageAllBlobs(registry.storageDir, 7200);

    let collecting = true;
    const collection = gc('1s').finally(() => { collecting = false; });
    // the moment the sweep has removed an image's layer, a client pushes the same image again
    const repushed: Image[] = [];
    await Promise.all(images.map(async (image) => {
      const layer = image.blobs[1]!;
      while (collecting && existsSync(blobFile(registry.storageDir, layer.digest))) await new Promise((r) => setTimeout(r, 2));
      if (!collecting) return;
      await ensureBlobs(image);
      if (await putManifest(image) === 201) repushed.push(image);
    }));
    const report = await collection;
    assert.ok(repushed.length > 0, `no image was pushed again while the sweep ran (${JSON.stringify(report)})`);
    const problems = (await Promise.all(repushed.map(verify))).flat();
    console.log(`gc stress, pushed again during the sweep: ${repushed.length} images checked, ${new Set(problems.map((p) => p.split(' ')[0])).size} broken`);
    assert.deepEqual(problems, [], `${problems.length} problems in ${repushed.length} images pushed again during the sweep`);
  });

  it('every image whose manifest PUT returned 201 and was not deleted stays pullable across back-to-back collections', async () => {
    // layers of deleted, long-unused images: pushers reuse them, so a sweep and a push meet on the same digests
    const oldLayers = Array.from({ length: 12 }, () => randomBlob(2048));
    for (let i = 0; i < oldLayers.length; i += 3) {
      const image = makeImage('stress/old', `o${i}`, oldLayers.slice(i, i + 3));
      await ensureBlobs(image);
      assert.equal(await putManifest(image), 201);
      assert.equal((await client.send('DELETE', `/v2/${image.repository}/manifests/${image.manifest.digest}`)).status, 202);
    }
    ageAllBlobs(registry.storageDir, 7200);

    const committed: Image[] = [];
    const deleted = new Set<string>();
    const brokenSeen = new Map<string, string[]>();
    let collections = 0;
    let refusedPuts = 0;
    let pulls = 0;
    let running = true;
    // each collection start releases the manifest PUTs waiting for it, so they land near its mark phase
    let nextStart = signal();

    const collector = (async () => {
      while (running) {
        const started = nextStart;
        nextStart = signal();
        const run = gc(collections % 2 === 0 ? '0s' : '1s');
        started.resolve();
        await run;
        collections++;
      }
      nextStart.resolve();
    })();

    const pusher = async (p: number) => {
      for (let i = 0; i < IMAGES_PER_PUSHER; i++) {
        const repository = `stress/p${p}-${i % 3}`;
        const layers = [oldLayers[(p * 7 + i) % oldLayers.length]!, randomBlob(1024 + i)];
        const image = makeImage(repository, `i${i}`, layers);
        let status = 0;
        for (let attempt = 0; attempt < PUSH_ATTEMPTS && status !== 201; attempt++) {
          await ensureBlobs(image);
          // half the images time their first manifest PUT to a collection's start; a retry goes straight on
          if (i % 2 === 0 && attempt === 0) await nextStart.promise;
          status = await putManifest(image);
          if (status !== 201) refusedPuts++;
        }
        assert.equal(status, 201, `${repository}:${image.tag} could not be pushed in ${PUSH_ATTEMPTS} attempts`);
        committed.push(image);
        if (i % 5 === 4) {
          // someone deletes an image: it leaves the check, and its own blobs become garbage for the next run
          deleted.add(image.manifest.digest);
          assert.equal((await client.send('DELETE', `/v2/${repository}/manifests/${image.manifest.digest}`)).status, 202);
        }
      }
    };

    const puller = (async () => {
      while (running) {
        const candidates = committed.filter((image) => !deleted.has(image.manifest.digest));
        const image = candidates[Math.floor(Math.random() * candidates.length)];
        if (!image) {
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        const problems = await verify(image);
        // a deletion may have raced the pull; only an image nobody deleted counts
        if (problems.length > 0 && !deleted.has(image.manifest.digest)) brokenSeen.set(image.manifest.digest, problems);
        pulls++;
      }
    })();

    try {
      await Promise.all(Array.from({ length: PUSHERS }, (_, p) => pusher(p)));
    } finally {
      running = false;
      await Promise.all([collector, puller]);
    }
    await gc('0s');
    collections++;

    const alive = committed.filter((image) => !deleted.has(image.manifest.digest));
    for (const image of alive) {
      const problems = await verify(image);
      if (problems.length > 0) brokenSeen.set(image.manifest.digest, problems);
    }
    const summary = `${alive.length} images checked, ${brokenSeen.size} broken; ${committed.length} pushed, ${deleted.size} deleted, `
      + `${collections} collections, ${refusedPuts} manifest PUTs refused (MANIFEST_BLOB_UNKNOWN, pushed again), ${pulls} pulls meanwhile`;
    console.log(`gc stress: ${summary}`);
    assert.equal(committed.length, PUSHERS * IMAGES_PER_PUSHER);
    assert.ok(collections >= 5, `only ${collections} collections ran during the pushes`);
    assert.deepEqual([...brokenSeen.values()].flat(), [], summary);
  });
});
