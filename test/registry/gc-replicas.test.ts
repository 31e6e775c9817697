// The data-safety promise of online garbage collection across replicas: two real registry processes share one
// storage (a directory with storage.shared, an S3 bucket); clients push to A while collections with a zero grace
// period run back to back on B (and, refused while B's run is live, on A). Every image whose manifest PUT returned
// 201 and that nobody deleted stays fully pullable from both processes, manifest and every blob digests verified.
// Each image references a layer that is garbage when its manifest is PUT (the layer of an image deleted just
// before): the client finds it through a mount or an upload of existing content, and half the manifest PUTs are
// timed into a collection that has already marked the repository but not yet swept. Zero broken images is the
// only pass.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientFor, type Client } from '../support/http.ts';
import { OCI_MANIFEST, randomBlob, sha256, type Blob } from '../support/oci.ts';
import { startRegistry, type RunningRegistry, type StartOptions } from '../support/registry.ts';
import { startS3Server } from '../support/s3-server.ts';
import { ageAllBlobs, makeImage, plantGarbage, signal, type Image } from './gc-storage.ts';
import { withRegistryLogs } from './tools.ts';

const admin = { name: 'admin', password: 'gc-replicas-pw' };
const TOKEN = 'gc-replicas-token-0123456789';
const PUSHERS = 2;
/** a client gives up an image after this many attempts (each one re-checks and re-uploads what is missing) */
const PUSH_ATTEMPTS = 20;
/** where the images that supply garbage layers are pushed, and deleted */
const DECOYS = 'replicas/decoys';
/**
 * Blobs written "in the future" (young to every collection, so never swept) that each collection still walks:
 * they stretch the time between a collection's mark phase and its sweep, where a manifest PUT must not slip through.
 */
const YOUNG_BLOBS = 4000;
/** a timed manifest PUT waits up to this long after a collection starts, to land in its walk rather than before */
const PUT_SPREAD_MS = 150;

interface Replicas {
  a: RunningRegistry;
  b: RunningRegistry;
  stopStorage?: () => Promise<void>;
  /** a directory's files can be given a time; an object store sets its own */
  plantYoungBlobs?: (count: number) => void;
}

/** POST /admin/v1/gc: the report, or 409 when a collection is already running (here or on the other replica) */
async function gc(client: Client, gracePeriod: string): Promise<{ status: number; report?: any }> {
  const response = await client.send('POST', '/admin/v1/gc', {
    user: null,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ gracePeriod }),
  });
  if (response.status === 409) return { status: 409 };
  assert.equal(response.status, 200, `gc: ${response.status} ${response.body}`);
  return { status: 200, report: response.json() };
}

/**
 * What a registry client does for each blob: HEAD; when missing, mount it from where it was pushed before (a
 * mount the registry cannot do answers 202 with an upload session) or upload it.
 */
async function ensureBlobs(client: Client, image: Image, mountFrom?: string): Promise<void> {
  for (const content of image.blobs) {
    const head = await client.send('HEAD', `/v2/${image.repository}/blobs/${content.digest}`);
    if (head.status === 200) continue;
    const query = mountFrom ? `mount=${content.digest}&from=${mountFrom}` : `digest=${content.digest}`;
    const started = await client.send('POST', `/v2/${image.repository}/blobs/uploads/?${query}`, {
      headers: { 'content-type': 'application/octet-stream' }, ...(mountFrom ? {} : { body: content.content }),
    });
    if (started.status === 201) continue;
    assert.equal(started.status, 202, `upload ${content.digest}: ${started.status} ${started.body}`);
    const location = started.headers.location!;
    const put = await client.send('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${content.digest}`, {
      headers: { 'content-type': 'application/octet-stream' }, body: content.content,
    });
    assert.equal(put.status, 201, `upload ${content.digest}: ${put.status} ${put.body}`);
  }
}

async function putManifest(client: Client, image: Image): Promise<number> {
  const response = await client.send('PUT', `/v2/${image.repository}/manifests/${image.tag}`, {
    headers: { 'content-type': OCI_MANIFEST }, body: image.manifest.content,
  });
  // a blob swept between the client's check and its manifest PUT is reported, never silently accepted
  if (response.status !== 201 && response.json().errors?.[0]?.code !== 'MANIFEST_BLOB_UNKNOWN') {
    assert.fail(`manifest PUT ${image.repository}:${image.tag}: ${response.status} ${response.body}`);
  }
  return response.status;
}

/** Problems of one image as served by one process, empty when its manifest and every blob download with the right digests. */
async function verify(client: Client, replica: string, image: Image): Promise<string[]> {
  const problems: string[] = [];
  const name = `${image.repository}:${image.tag}`;
  for (const reference of [image.tag, image.manifest.digest]) {
    const manifest = await client.send('GET', `/v2/${image.repository}/manifests/${reference}`, { headers: { accept: OCI_MANIFEST } });
    if (manifest.status !== 200 || sha256(manifest.body) !== image.manifest.digest) problems.push(`${name} manifest ${reference} from ${replica}: ${manifest.status}`);
  }
  for (const content of image.blobs) {
    const response = await client.send('GET', `/v2/${image.repository}/blobs/${content.digest}`);
    if (response.status !== 200 || sha256(response.body) !== content.digest) {
      problems.push(`${name} blob ${content.digest} from ${replica}: ${response.status} ${response.body.toString().slice(0, 120)}`);
    }
  }
  return problems;
}

/**
 * The scenario, on whatever storage `start` puts both processes. `imagesPerPusher`: an object store answers each
 * request slower than a directory, so it gets fewer images for the same number of collections.
 */
function collectionsAcrossReplicas(start: (options: StartOptions) => Promise<Replicas>, imagesPerPusher: number) {
  let replicas: Replicas;
  let clientA: Client;
  let clientB: Client;
  const logs = () => ({ logs: () => `--- A\n${replicas.a.logs().slice(-6000)}\n--- B\n${replicas.b.logs().slice(-6000)}` });

  before(async () => {
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'regop-token-')), 'admin-token');
    writeFileSync(tokenFile, TOKEN);
    replicas = await start({ users: [admin], extraArgs: ['--admin-token-file', tokenFile, '--log-level', 'warn'] });
    clientA = clientFor(replicas.a, admin);
    clientB = clientFor(replicas.b, admin);
  });

  after(async () => {
    await clientA?.close();
    await clientB?.close();
    await replicas?.b.stop();
    await replicas?.a.stop();
    await replicas?.stopStorage?.();
  });

  it('every image whose manifest PUT on A returned 201 and was not deleted stays pullable from A and B across collections on B', () => withRegistryLogs(logs(), async () => {
    replicas.plantYoungBlobs?.(YOUNG_BLOBS);
    const committed: Image[] = [];
    const deleted = new Set<string>();
    const brokenSeen = new Map<string, string[]>();
    const collections = { b: 0, a: 0, refusedOnA: 0, refusedOnB: 0 };
    let refusedPuts = 0;
    let pulls = 0;
    let running = true;
    /** a refused collection is asked again a moment later, as a client told to retry would */
    const refused = async (replica: 'A' | 'B') => {
      if (replica === 'A') collections.refusedOnA++;
      else collections.refusedOnB++;
      await new Promise((r) => setTimeout(r, 10));
    };
    // each collection start on B releases the manifest PUTs waiting for it, so they land near its mark phase
    let nextStart = signal();

    const collectorB = (async () => {
      try {
        while (running) {
          const started = nextStart;
          nextStart = signal();
          // a zero grace period sweeps every unreferenced blob, even one uploaded a moment ago; a short one spares those
          const run = gc(clientB, (collections.b + collections.refusedOnB) % 2 === 0 ? '0s' : '2s');
          started.resolve();
          if ((await run).status === 200) collections.b++;
          else await refused('B');
        }
      } finally {
        nextStart.resolve();
      }
    })();

    // A asks for collections too: refused while B's run is live (409), never two at once doing harm
    const collectorA = (async () => {
      while (running) {
        if ((await gc(clientA, '0s')).status === 200) collections.a++;
        else await refused('A');
      }
    })();

    /**
     * Pushes like a client: blobs (mounted from `mountFrom` when given), then the manifest; a manifest refused for
     * a blob swept meanwhile is pushed again, blobs first. `timed`: the first manifest PUT lands in a collection.
     */
    const push = async (image: Image, options: { mountFrom?: string; timed?: boolean } = {}) => {
      let status = 0;
      for (let attempt = 0; attempt < PUSH_ATTEMPTS && status !== 201; attempt++) {
        await ensureBlobs(clientA, image, options.mountFrom);
        if (options.timed && attempt === 0) {
          await nextStart.promise;
          await new Promise((r) => setTimeout(r, Math.random() * PUT_SPREAD_MS));
        }
        status = await putManifest(clientA, image);
        if (status !== 201) refusedPuts++;
      }
      assert.equal(status, 201, `${image.repository}:${image.tag} could not be pushed in ${PUSH_ATTEMPTS} attempts`);
    };

    const pusher = async (p: number) => {
      for (let i = 0; i < imagesPerPusher; i++) {
        // a decoy image is pushed and deleted: its layer is garbage, still stored, when the real image references it
        const garbage = randomBlob(2048 + i);
        const decoy = makeImage(DECOYS, `p${p}-${i}`, [garbage]);
        await push(decoy);
        assert.equal((await clientA.send('DELETE', `/v2/${DECOYS}/manifests/${decoy.manifest.digest}`)).status, 202);
        // the layer is not linked in the image's repository: half the images mount it, half upload it again; half
        // time their first manifest PUT into a collection
        const image = makeImage(`replicas/p${p}-${i % 3}`, `i${i}`, [garbage, randomBlob(1024 + i)]);
        await push(image, { ...(i % 2 === 0 ? { mountFrom: DECOYS } : {}), timed: i % 4 < 2 });
        committed.push(image);
        if (i % 5 === 4) {
          // someone deletes an image: it leaves the check, and its blobs become garbage for the next run
          deleted.add(image.manifest.digest);
          assert.equal((await clientA.send('DELETE', `/v2/${image.repository}/manifests/${image.manifest.digest}`)).status, 202);
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
        const problems = await verify(clientB, 'B', image);
        // a deletion may have raced the pull; only an image nobody deleted counts
        if (problems.length > 0 && !deleted.has(image.manifest.digest)) brokenSeen.set(image.manifest.digest, problems);
        pulls++;
      }
    })();

    // a loop that fails stops the others; its error is reported once they have stopped
    for (const loop of [collectorB, collectorA, puller]) loop.catch(() => { running = false; });
    try {
      await Promise.all(Array.from({ length: PUSHERS }, (_, p) => pusher(p)));
    } finally {
      running = false;
      await Promise.all([collectorB, collectorA, puller]);
    }
    assert.equal((await gc(clientB, '0s')).status, 200, 'the last collection was refused: a run object was left behind');
    collections.b++;

    const alive = committed.filter((image) => !deleted.has(image.manifest.digest));
    for (const image of alive) {
      const problems = [...await verify(clientA, 'A', image), ...await verify(clientB, 'B', image)];
      if (problems.length > 0) brokenSeen.set(image.manifest.digest, problems);
    }
    const summary = `${alive.length} images checked on both, ${brokenSeen.size} broken; ${committed.length} pushed, ${deleted.size} deleted; `
      + `${collections.b} collections on B, ${collections.a} on A, refused ${collections.refusedOnA} on A and ${collections.refusedOnB} on B; `
      + `${refusedPuts} manifest PUTs refused (MANIFEST_BLOB_UNKNOWN, pushed again), ${pulls} pulls from B meanwhile`;
    console.log(`gc across replicas: ${summary}`);
    assert.deepEqual([...brokenSeen.values()].flat(), [], summary);
    assert.equal(committed.length, PUSHERS * imagesPerPusher);
    assert.ok(collections.b >= 5, `only ${collections.b} collections ran on B during the pushes`);
    assert.ok(collections.refusedOnA + collections.refusedOnB > 0, `no collection was refused while the other replica's ran: ${summary}`);
  }));
}

describe('garbage collection on one replica while the other takes pushes: one shared directory', () => {
  collectionsAcrossReplicas(async (options) => {
    const a = await startRegistry({ ...options, storage: { shared: true } });
    const b = await startRegistry({ ...options, storage: { shared: true }, storageDir: a.storageDir });
    // planted before anything is pushed, then every blob of the store (those only) is dated a day ahead
    const plantYoungBlobs = (count: number) => {
      plantGarbage(a.storageDir, count);
      ageAllBlobs(a.storageDir, -86_400);
    };
    return { a, b, plantYoungBlobs };
  }, 30);
});

describe('garbage collection on one replica while the other takes pushes: one S3 bucket', () => {
  collectionsAcrossReplicas(async (options) => {
    const s3 = await startS3Server();
    await s3.createBucket('gc-replicas');
    const storage = { s3: { server: s3, bucket: 'gc-replicas', prefix: 'registry' } };
    return { a: await startRegistry({ ...options, storage }), b: await startRegistry({ ...options, storage }), stopStorage: () => s3.stop() };
  }, 12);
});
