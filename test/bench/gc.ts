// GC over a store of many small blobs, most of them garbage. Ours collects online, through the admin API of the
// serving process, while a client keeps pulling; distribution's garbage-collect needs the server stopped.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BenchClient, runConcurrent } from './client.ts';
import { pushBlob, pushConfig, manifest, putManifest, CONCURRENCY, type Metric, type Sizes } from './scenarios.ts';
import {
  startServer, runMeasured, sampleRss, readRssKiB, distributionGcCommand, type BenchServer, type BenchStorage, type ServerKind, type Mode,
} from './servers.ts';
import { sha256 } from './client.ts';

const LAYERS_PER_MANIFEST = 10;
/**
 * Time each phase (the fill, the deletes, distribution's offline collection) may take per stored blob: on object
 * storage over two cores the fill runs at 50-80 blobs/s, so 100,000 blobs need more than the scenario's usual
 * allowance.
 */
const MS_PER_BLOB = 40;

function phaseAllowanceMs(sizes: Sizes): number {
  return Math.max(sizes.scenarioSeconds * 1000 * 2, sizes.gcBlobs * MS_PER_BLOB);
}
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export async function gcScenario(kind: ServerKind, mode: Mode, sizes: Sizes, log: (line: string) => void, storage: BenchStorage = 'filesystem'): Promise<Metric[]> {
  const server = await startServer(kind, mode, undefined, storage);
  const client = new BenchClient(server, CONCURRENCY);
  const deadline = Date.now() + phaseAllowanceMs(sizes);
  try {
    // The tagged manifests live in a repository of their own: deleting a manifest by digest makes both servers read
    // every tag of its repository (to remove the tags naming it), which with thousands of tags beside the garbage
    // would time the setup's deletes, not the collection.
    const repo = 'bench/gc';
    const keptRepo = 'bench/gc-kept';
    const config = await pushConfig(client, repo);
    await pushConfig(client, keptRepo);
    const manifests = Math.floor(sizes.gcBlobs / LAYERS_PER_MANIFEST);
    // Every manifest owns LAYERS_PER_MANIFEST unique 256-byte layers; one in ten manifests stays tagged.
    const garbage: string[] = [];
    // The fill is not what is timed: a push step that fails is tried again, up to three times. Distribution's
    // uploads on versitygw with keep-alive failed now and then with an S3 RequestFailure (500), which ended the
    // scenario tens of thousands of blobs in.
    let retries = 0;
    const again = async <T>(step: () => Promise<T>): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await step();
        } catch (error) {
          if (attempt >= 3) throw error;
          retries++;
        }
      }
    };
    const fill = await runConcurrent(manifests, CONCURRENCY, deadline, async (i) => {
      const kept = i % 10 === 0;
      const layers = [];
      for (let j = 0; j < LAYERS_PER_MANIFEST; j++) {
        const content = randomBytes(256);
        layers.push({ mediaType: OCI_LAYER, digest: await again(() => pushBlob(client, kept ? keptRepo : repo, content)), size: content.length });
      }
      const body = manifest(config, layers, `m${i}`);
      if (kept) {
        await again(() => putManifest(client, keptRepo, `keep-${i}`, body));
      } else {
        const digest = sha256(body);
        // Garbage manifests are pushed by digest, untagged, so deleting them leaves no tag behind on either server.
        await again(() => putManifest(client, repo, digest, body));
        garbage.push(digest);
      }
    });
    const pushed = fill.latencies.length;
    log(`    gc setup: ${pushed} manifests, ${pushed * LAYERS_PER_MANIFEST} blobs in ${(fill.elapsedMs / 1000).toFixed(1)}s; ${retries} push steps tried again`);
    const deletes = await runConcurrent(garbage.length, CONCURRENCY, Date.now() + phaseAllowanceMs(sizes), async (i) => {
      await client.send('DELETE', `/v2/${repo}/manifests/${garbage[i]}`, { expect: [202] });
    });
    log(`    gc setup: ${deletes.latencies.length} of ${garbage.length} garbage manifests deleted in ${(deletes.elapsedMs / 1000).toFixed(1)}s`);
    const before = countFiles(server.storageDir);
    const collected = kind === 'ours' ? await collectOnline(server, client, keptRepo) : await collectOffline(server, client, sizes);
    if ('unavailable' in collected) {
      const note = `not available: ${collected.unavailable}`;
      return [
        { scenario: 'gc', metric: 'time', unit: 's', better: 'lower', value: NaN, note },
        { scenario: 'gc', metric: 'peak RSS', unit: 'MiB', better: 'lower', value: NaN, note },
      ];
    }
    const after = countFiles(server.storageDir);
    // Layouts differ, so files on disk before/after is the comparable evidence that GC really collected.
    const note = `${collected.how}; ${pushed * LAYERS_PER_MANIFEST} blobs, ${garbage.length * LAYERS_PER_MANIFEST} garbage; files ${before}→${after}`;
    return [
      { scenario: 'gc', metric: 'time', unit: 's', better: 'lower', value: collected.ms / 1000, note },
      {
        scenario: 'gc', metric: 'peak RSS', unit: 'MiB', better: 'lower', value: collected.peakRssKiB / 1024,
        ...(collected.rssNote ? { note: collected.rssNote } : {}),
      },
    ];
  } finally {
    await client.close().catch(() => {});
    await server.stop();
    server.cleanup();
  }
}

/** `rssNote`: what the peak is to be read against */
type Collected = { ms: number; peakRssKiB: number; rssNote?: string; how: string } | { unavailable: string };

const mib = (kib: number | undefined) => (kib === undefined ? '?' : (kib / 1024).toFixed(0));

/**
 * Ours: POST /admin/v1/gc while a client pulls a kept tag in a loop. Like distribution's offline run, the
 * collection starts in a fresh process (ours restarted on the same storage, then serving), so the peak is the
 * collection's and the pulls' memory, not what the setup's 100,000 uploads left in the heap; that figure is noted.
 */
async function collectOnline(setupServer: BenchServer, setupClient: BenchClient, repo: string): Promise<Collected> {
  const afterSetupRssKiB = readRssKiB(setupServer.pid);
  await setupClient.close();
  const server = await setupServer.restart!();
  const client = new BenchClient(server, CONCURRENCY);
  try {
    const collected = await collectOnlineIn(server, client, repo);
    if ('unavailable' in collected) return collected;
    return { ...collected, rssNote: `${collected.rssNote}; the process that served the setup had ${mib(afterSetupRssKiB)} MiB` };
  } finally {
    await client.close().catch(() => {});
    await server.stop();
    server.cleanup();
  }
}

async function collectOnlineIn(server: BenchServer, client: BenchClient, repo: string): Promise<Collected> {
  const startRssKiB = readRssKiB(server.pid);
  const sampler = sampleRss(server.pid);
  let collecting = true;
  let pulls = 0;
  let pullFailures = 0;
  const puller = (async () => {
    while (collecting) {
      try {
        await client.send('GET', `/v2/${repo}/manifests/keep-0`, { headers: { accept: OCI_MANIFEST }, expect: [200] });
        pulls++;
      } catch {
        pullFailures++;
      }
    }
  })();
  const t0 = performance.now();
  try {
    const reply = await client.send('POST', '/admin/v1/gc', {
      headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ gracePeriod: '0s' }), expect: [200],
    });
    const ms = performance.now() - t0;
    const report = JSON.parse(reply.body.toString('utf8')) as { blobsDeleted: number };
    return { ms, peakRssKiB: sampler.stop(), rssNote: `fresh serving process, ${mib(startRssKiB)} MiB when the collection started`, how: `online, ${report.blobsDeleted} blobs deleted, ${pulls} pulls served meanwhile (${pullFailures} failed)` };
  } finally {
    collecting = false;
    await puller;
    sampler.stop();
  }
}

/** Distribution: stop the server, then its offline garbage-collect on the same storage. */
async function collectOffline(server: BenchServer, client: BenchClient, sizes: Sizes): Promise<Collected> {
  await client.close();
  await server.stop();
  const [command, args] = distributionGcCommand(server.configFile!);
  const run = await runMeasured(command, args, phaseAllowanceMs(sizes));
  if (!run.ok) return { unavailable: `gc exited ${run.exitCode}: ${run.outputTail.split('\n').slice(-3).join(' | ').slice(0, 300)}` };
  return { ms: run.ms, peakRssKiB: run.peakRssKiB, how: 'offline, server stopped' };
}

function countFiles(dir: string): number {
  let count = 0;
  const stack = [dir];
  while (stack.length) {
    const current = stack.pop()!;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      if (entry.isDirectory()) stack.push(join(current, entry.name));
      else count++;
    }
  }
  return count;
}
