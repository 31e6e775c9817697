// A pull-through mirror of one upstream: ours (`mirrors:`) against distribution's proxy mode, both in front of the
// same upstream (test/support/upstream.ts: distribution with TLS and token auth behind a counting proxy). Cold and
// warm pulls, the first byte of an uncached big blob, and what 5 concurrent cold pulls of it cost the upstream.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { startUpstream, type Upstream, type UpstreamImage } from '../support/upstream.ts';
import { BenchClient, MiB, RequestFailed, median } from './client.ts';
import type { Metric, Sizes } from './scenarios.ts';
import { startServer, BENCH_USER, MIRROR_PREFIX, type BenchServer, type Mode, type ServerKind } from './servers.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const CONCURRENT_PULLS = 5;
const FIRST_BYTE_SAMPLES = 7;
/** how long to wait for the upstream to finish what a server still fetches after its client got everything */
const SETTLE_MS = 120_000;

export interface MirrorUpstream {
  upstream: Upstream;
  big: UpstreamImage;
  small: UpstreamImage;
  stop(): Promise<void>;
}

/** One upstream for every server and mode: an image with one `sizes.bigMiB` layer (streamed in) and a small one. */
export async function startMirrorUpstream(sizes: Sizes, log: (line: string) => void): Promise<MirrorUpstream> {
  const upstream = await startUpstream();
  try {
    const t0 = performance.now();
    const big = await upstream.pushLargeImage('library/bench-big', '1', sizes.bigMiB * MiB);
    const small = await upstream.pushImage('library/bench-small', '1');
    log(`    mirror setup: upstream ${upstream.url}, ${sizes.bigMiB} MiB layer pushed in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    return { upstream, big, small, stop: () => upstream.stop() };
  } catch (error) {
    await upstream.stop();
    throw error;
  }
}

/** the repository a client pulls the upstream's `repository` by: ours under its mirror prefix, distribution's as is */
function mirroredName(kind: ServerKind, repository: string): string {
  return kind === 'ours' ? `${MIRROR_PREFIX}/${repository}` : repository;
}

interface Pull { seconds: number; bytes: number }

/**
 * A pull as a runtime does it: the manifest by tag, then the config and the layers, each read in full. Big layers
 * are read by curl: a Node client would measure itself.
 */
async function pullImage(server: BenchServer, client: BenchClient, image: UpstreamImage): Promise<Pull> {
  const repository = mirroredName(server.kind, image.repository);
  const t0 = performance.now();
  const manifest = await client.send('GET', `/v2/${repository}/manifests/${image.tag}`, { headers: { accept: OCI_MANIFEST }, expect: [200] });
  if (manifest.body.length !== image.manifest.length) throw new RequestFailed(`manifest of ${repository}: ${manifest.body.length} bytes, upstream has ${image.manifest.length}`);
  await client.send('GET', `/v2/${repository}/blobs/${image.config.digest}`, { expect: [200], discard: true });
  let bytes = manifest.body.length + image.config.size;
  for (const layer of image.layers) {
    const path = `/v2/${repository}/blobs/${layer.digest}`;
    if (layer.size >= MiB) await curlBlob(server, path, layer.size);
    else await client.send('GET', path, { expect: [200], discard: true });
    bytes += layer.size;
  }
  return { seconds: (performance.now() - t0) / 1000, bytes };
}

/** GET of a blob by curl, the body discarded: curl's seconds for the transfer. */
function curlBlob(server: BenchServer, path: string, expectedBytes: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'regop-bench-mirror-curl-'));
  const args = ['--silent', '--show-error', '--output', '/dev/null', '--write-out', '%{http_code} %{size_download} %{time_total}'];
  if (server.caPem) {
    writeFileSync(join(dir, 'ca.pem'), server.caPem);
    args.push('--cacert', join(dir, 'ca.pem'));
  }
  if (server.mode === 'tls+auth') args.push('--user', `${BENCH_USER.name}:${BENCH_USER.password}`);
  args.push(new URL(path, server.url).href);
  return new Promise((resolve, reject) => {
    execFile('curl', args, { timeout: 600_000 }, (error, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      const [status, bytes, seconds] = stdout.trim().split(' ');
      if (error || status !== '200' || Number(bytes) !== expectedBytes) {
        reject(new RequestFailed(`curl GET ${path}: status ${status}, ${bytes}/${expectedBytes} bytes ${stderr.trim()} ${error?.message ?? ''}\n${server.logs().slice(-2000)}`));
      } else {
        resolve(Number(seconds));
      }
    });
  });
}

/**
 * Milliseconds from a blob GET sent (on a connection already open and authenticated) to the first byte of its
 * body; then the connection is cut. (curl's time_starttransfer is the headers' first byte, which a mirror can send
 * before it has any of the body.)
 */
async function firstBodyByteMs(server: BenchServer, path: string): Promise<number> {
  const client = new Client(server.url, { connect: server.caPem ? { ca: server.caPem } : {}, headersTimeout: 600_000, bodyTimeout: 600_000 });
  const headers: Record<string, string> = server.mode === 'tls+auth'
    ? { authorization: `Basic ${Buffer.from(`${BENCH_USER.name}:${BENCH_USER.password}`).toString('base64')}` } : {};
  try {
    const base = await client.request({ method: 'GET', path: '/v2/', headers });
    await base.body.dump();
    if (base.statusCode !== 200) throw new RequestFailed(`GET /v2/ -> ${base.statusCode}`);
    const t0 = performance.now();
    const response = await client.request({ method: 'GET', path, headers });
    if (response.statusCode !== 200) throw new RequestFailed(`GET ${path} -> ${response.statusCode}: ${(await response.body.text()).slice(0, 300)}`);
    for await (const _ of response.body) return performance.now() - t0;
    throw new RequestFailed(`GET ${path}: empty body`);
  } finally {
    await client.destroy();
  }
}

/** What the upstream's proxy saw from request `from` on: requests, blob GETs, body bytes. */
function upstreamSince(upstream: Upstream, from: number) {
  const seen = upstream.requests.slice(from);
  return {
    requests: seen.length,
    blobGets: seen.filter((r) => r.method === 'GET' && r.status === 200 && r.path.includes('/blobs/')).length,
    mib: seen.reduce((sum, r) => sum + r.bytes, 0) / MiB,
  };
}

/**
 * Waits until the upstream has sent every body it was asked for: distribution's proxy fetches a blob a second
 * time in the background to store it, which may still run after its client has the whole blob.
 */
async function upstreamSettled(upstream: Upstream, from: number): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while (upstream.requests.slice(from).some((r) => !r.done) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
}

/**
 * Waits until the server has the blob in its store. Ours commits a fetched blob before its client gets the last
 * bytes; distribution's proxy stores it from a second upstream fetch in the background and commits after that,
 * so a pull right after the cold one would otherwise still go to the upstream and not be a warm pull.
 */
async function blobStored(server: BenchServer, digest: string): Promise<void> {
  if (server.kind === 'ours') return;
  const [algorithm, hex] = digest.split(':') as [string, string];
  const data = join(server.storageDir, 'docker', 'registry', 'v2', 'blobs', algorithm, hex.slice(0, 2), hex, 'data');
  const deadline = Date.now() + SETTLE_MS;
  while (!existsSync(data) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
}

/** A fresh server on empty storage mirroring the upstream, with a client; both gone afterwards. */
async function onFreshServer<T>(kind: ServerKind, mode: Mode, upstream: Upstream, run: (server: BenchServer, client: BenchClient) => Promise<T>): Promise<T> {
  const server = await startServer(kind, mode, upstream);
  const client = new BenchClient(server, 4);
  try {
    return await run(server, client);
  } finally {
    await client.close().catch(() => {});
    await server.stop();
    server.cleanup();
  }
}

/** `median of 3: 12, 15, 11` */
function samplesNote(values: number[], digits = 0): string {
  return `median of ${values.length}: ${values.map((v) => v.toFixed(digits)).join(', ')}`;
}

export async function mirrorScenario(kind: ServerKind, mode: Mode, fixture: MirrorUpstream, samples: number, log: (line: string) => void): Promise<Metric[]> {
  const { upstream, big, small } = fixture;
  const layer = big.layers[0]!;
  const layerMiB = layer.size / MiB;
  const layerPath = `/v2/${mirroredName(kind, big.repository)}/blobs/${layer.digest}`;
  const metrics: Metric[] = [];
  const add = (metric: string, unit: string, better: Metric['better'], values: number[], note: string) =>
    metrics.push({ scenario: 'mirror', metric, unit, better, value: median(values), note });

  // Cold, then warm pulls of the big image, then of the small one: each sample on a fresh server.
  const runs: Array<{ cold: Pull; coldUpstream: ReturnType<typeof upstreamSince>; warm: Pull; warmUpstream: ReturnType<typeof upstreamSince>;
    smallCold: Pull; smallWarm: Pull; smallRequests: number }> = [];
  for (let sample = 0; sample < samples; sample++) {
    runs.push(await onFreshServer(kind, mode, upstream, async (server, client) => {
      let from = upstream.requests.length;
      const cold = await pullImage(server, client, big);
      await upstreamSettled(upstream, from);
      await blobStored(server, layer.digest);
      const coldUpstream = upstreamSince(upstream, from);
      from = upstream.requests.length;
      const warm = await pullImage(server, client, big);
      const warmUpstream = upstreamSince(upstream, from);
      from = upstream.requests.length;
      const smallCold = await pullImage(server, client, small);
      const smallWarm = await pullImage(server, client, small);
      await upstreamSettled(upstream, from);
      return { cold, coldUpstream, warm, warmUpstream, smallCold, smallWarm, smallRequests: upstreamSince(upstream, from).requests };
    }));
  }
  const rates = (pulls: Pull[]) => pulls.map((pull) => pull.bytes / MiB / pull.seconds);
  const ms = (pulls: Pull[]) => pulls.map((pull) => pull.seconds * 1000);
  const coldRates = rates(runs.map((r) => r.cold));
  add('cold pull', 'MiB/s', 'higher', coldRates,
    `${samplesNote(coldRates)}; ${median(runs.map((r) => r.cold.seconds)).toFixed(2)} s for manifest, config and a ${layerMiB.toFixed(0)} MiB layer`);
  const upstreamMiB = runs.map((r) => r.coldUpstream.mib);
  add('upstream MiB for the cold pull', 'MiB', 'lower', upstreamMiB,
    `${runs[0]!.coldUpstream.blobGets} blob GETs, ${runs[0]!.coldUpstream.requests} requests`);
  const warmRates = rates(runs.map((r) => r.warm));
  add('warm pull', 'MiB/s', 'higher', warmRates, `${samplesNote(warmRates)}; ${median(runs.map((r) => r.warm.seconds)).toFixed(2)} s`);
  add('upstream requests for the warm pull', 'count', 'lower', runs.map((r) => r.warmUpstream.requests),
    `per sample: ${runs.map((r) => `${r.warmUpstream.requests} (${r.warmUpstream.mib.toFixed(1)} MiB)`).join(', ')}`);
  const smallCold = ms(runs.map((r) => r.smallCold));
  add('small image cold pull', 'ms', 'lower', smallCold, samplesNote(smallCold));
  const smallWarm = ms(runs.map((r) => r.smallWarm));
  add('small image warm pull', 'ms', 'lower', smallWarm,
    `${samplesNote(smallWarm)}; upstream requests for the cold and warm pull: ${runs[0]!.smallRequests}`);

  // Concurrent cold pulls of the big layer, once (the upstream's count does not vary; the time is one run's).
  await onFreshServer(kind, mode, upstream, async (server) => {
    const from = upstream.requests.length;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENT_PULLS }, () => curlBlob(server, layerPath, layer.size)));
    const seconds = (performance.now() - t0) / 1000;
    await upstreamSettled(upstream, from);
    const seen = upstreamSince(upstream, from);
    add(`upstream MiB for ${CONCURRENT_PULLS} concurrent cold pulls`, 'MiB', 'lower', [seen.mib],
      `${seen.blobGets} upstream blob GETs; ${(seen.mib / layerMiB).toFixed(2)}× the layer`);
    add(`${CONCURRENT_PULLS} concurrent cold pulls`, 's', 'lower', [seconds], `one run, until all ${CONCURRENT_PULLS} clients had the ${layerMiB.toFixed(0)} MiB layer`);
  });

  // The first byte of the uncached layer, each sample on a fresh server that has mirrored the small image first
  // (a server that has been serving, not a process's first request); the upstream fetch is cut with the server.
  // Cheap and noisy (it is mostly the upstream's own answer): more samples.
  const firstBytes: number[] = [];
  for (let sample = 0; sample < FIRST_BYTE_SAMPLES; sample++) {
    firstBytes.push(await onFreshServer(kind, mode, upstream, async (server, client) => {
      await pullImage(server, client, small);
      return firstBodyByteMs(server, layerPath);
    }));
  }
  add('first byte of the uncached layer', 'ms', 'lower', firstBytes,
    `${samplesNote(firstBytes)}; from the request sent, after a small image was pulled through`);
  log(`    mirror [${mode}] ${kind}: done`);
  return metrics;
}
