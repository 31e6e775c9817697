// The workload: the same scenarios, the same client code, against whichever server is running.
import { createHash, randomBytes as randomContent } from 'node:crypto';
import { BenchClient, RepeatedBody, MiB, runConcurrent, percentile, median, sha256 } from './client.ts';
import { sampleRss, readRssKiB, type BenchServer } from './servers.ts';

export type Better = 'higher' | 'lower';
export interface Metric { scenario: string; metric: string; unit: string; better: Better; value: number; note?: string }

export interface Sizes {
  bigMiB: number;
  chunkMiB: number;
  smallBlobs: number;
  manifestOps: number;
  headOps: number;
  tags: number;
  repos: number;
  gcBlobs: number;
  /** Registries the operator scenario reconciles at once */
  registries: number;
  /** repetitions of the single-shot measurements (big blobs, full lists); the median is reported */
  samples: number;
  /** per-scenario time bound */
  scenarioSeconds: number;
}

export const FULL: Sizes = {
  bigMiB: 1024, chunkMiB: 8, smallBlobs: 1000, manifestOps: 5000, headOps: 5000,
  tags: 10_000, repos: 1000, gcBlobs: 100_000, registries: 50, samples: 3, scenarioSeconds: 600,
};
export const QUICK: Sizes = {
  bigMiB: 64, chunkMiB: 8, smallBlobs: 200, manifestOps: 500, headOps: 500,
  tags: 500, repos: 100, gcBlobs: 5000, registries: 5, samples: 3, scenarioSeconds: 120,
};

export const CONCURRENCY = 16;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface Context {
  client: BenchClient;
  server: BenchServer;
  sizes: Sizes;
  body: RepeatedBody;
  /** state shared between scenarios (e.g. the big blob big-pull reads) */
  state: Map<string, unknown>;
}

export interface Scenario {
  name: string;
  description: string;
  run(ctx: Context): Promise<Metric[]>;
}

export async function pushBlob(client: BenchClient, repo: string, content: Buffer, digest = sha256(content)): Promise<string> {
  const start = await client.send('POST', `/v2/${repo}/blobs/uploads/`, { expect: [202] });
  const location = client.pathOf(start.headers.location);
  const sep = location.includes('?') ? '&' : '?';
  await client.send('PUT', `${location}${sep}digest=${encodeURIComponent(digest)}`, {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(content.length) },
    body: content, expect: [201],
  });
  return digest;
}

interface Descriptor { mediaType: string; digest: string; size: number }
export function manifest(config: Descriptor, layers: Descriptor[], annotation?: string): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers,
    ...(annotation ? { annotations: { 'bench.regop/id': annotation } } : {}),
  }));
}

export async function putManifest(client: BenchClient, repo: string, reference: string, content: Buffer): Promise<void> {
  await client.send('PUT', `/v2/${repo}/manifests/${reference}`, {
    headers: { 'content-type': OCI_MANIFEST }, body: content, expect: [201],
  });
}

/** A config blob (and optional layers) pushed into `repo`, ready to be referenced by manifests. */
export async function pushConfig(client: BenchClient, repo: string): Promise<Descriptor> {
  const content = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const digest = await pushBlob(client, repo, content);
  return { mediaType: OCI_CONFIG, digest, size: content.length };
}

function deadline(ctx: Context): number {
  return Date.now() + ctx.sizes.scenarioSeconds * 1000;
}

function rateMetrics(scenario: string, unit: string, run: { latencies: number[]; elapsedMs: number }, target: number): Metric[] {
  const done = run.latencies.length;
  const note = done < target ? `time bound hit: ${done}/${target} done` : undefined;
  const extra = note ? { note } : {};
  return [
    { scenario, metric: 'throughput', unit, better: 'higher', value: done / (run.elapsedMs / 1000), ...extra },
    { scenario, metric: 'p50', unit: 'ms', better: 'lower', value: percentile(run.latencies, 50) },
    { scenario, metric: 'p99', unit: 'ms', better: 'lower', value: percentile(run.latencies, 99) },
  ];
}

async function ensureBigBlob(ctx: Context): Promise<string> {
  const existing = ctx.state.get('bigDigests') as string[] | undefined;
  if (existing) return existing[0]!;
  const digest = await monolithicPush(ctx, 'bench/big', 1);
  ctx.state.set('bigDigests', [digest]);
  return digest;
}

async function monolithicPush(ctx: Context, repo: string, variant: number): Promise<string> {
  const { client, body, sizes } = ctx;
  const digest = body.digest(sizes.bigMiB, variant);
  const start = await client.send('POST', `/v2/${repo}/blobs/uploads/`, { expect: [202] });
  const location = client.pathOf(start.headers.location);
  const sep = location.includes('?') ? '&' : '?';
  await client.send('PUT', `${location}${sep}digest=${encodeURIComponent(digest)}`, {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(sizes.bigMiB * MiB) },
    body: body.stream(sizes.bigMiB, variant), expect: [201],
  });
  return digest;
}

/** Throughput of `samples` timed runs: the median as the value, every sample in the note. */
function throughputMetric(scenario: string, mib: number, seconds: number[]): Metric {
  const rates = seconds.map((s) => mib / s);
  return {
    scenario, metric: 'throughput', unit: 'MiB/s', better: 'higher', value: median(rates),
    note: `median of ${rates.length}: ${rates.map((r) => r.toFixed(0)).join(', ')}`,
  };
}

/** Small-object fixture shared by the manifest and blob-head scenarios. */
async function ensureManifests(ctx: Context): Promise<{ repo: string; tags: string[]; blobs: string[] }> {
  const cached = ctx.state.get('manifests') as { repo: string; tags: string[]; blobs: string[] } | undefined;
  if (cached) return cached;
  const repo = 'bench/manifests';
  const config = await pushConfig(ctx.client, repo);
  const blobs: string[] = [];
  for (let i = 0; i < 16; i++) blobs.push(await pushBlob(ctx.client, repo, randomContent(4096)));
  const fixture = { repo, tags: [] as string[], blobs, config };
  ctx.state.set('manifests', fixture);
  ctx.state.set('manifestConfig', config);
  return fixture;
}

function layerOf(digest: string): Descriptor {
  return { mediaType: OCI_LAYER, digest, size: 4096 };
}

async function manifestPut(ctx: Context): Promise<Metric[]> {
  const fixture = await ensureManifests(ctx);
  const config = ctx.state.get('manifestConfig') as Descriptor;
  const count = ctx.sizes.manifestOps;
  const run = await runConcurrent(count, CONCURRENCY, deadline(ctx), async (i) => {
    const tag = `t${i}`;
    await putManifest(ctx.client, fixture.repo, tag, manifest(config, [layerOf(fixture.blobs[i % fixture.blobs.length]!)], tag));
    fixture.tags.push(tag);
  });
  return rateMetrics('manifest-put', 'req/s', run, count);
}

async function ensureTagged(ctx: Context): Promise<{ repo: string; tags: string[] }> {
  const fixture = await ensureManifests(ctx);
  if (fixture.tags.length === 0) {
    // manifest-put was not selected: make a few tags to read back, untimed.
    const config = ctx.state.get('manifestConfig') as Descriptor;
    for (let i = 0; i < 100; i++) {
      await putManifest(ctx.client, fixture.repo, `t${i}`, manifest(config, [layerOf(fixture.blobs[i % fixture.blobs.length]!)], `t${i}`));
      fixture.tags.push(`t${i}`);
    }
  }
  return fixture;
}

function manifestRead(method: 'GET' | 'HEAD', scenario: string) {
  return async (ctx: Context): Promise<Metric[]> => {
    const fixture = await ensureTagged(ctx);
    const count = ctx.sizes.manifestOps;
    const run = await runConcurrent(count, CONCURRENCY, deadline(ctx), async (i) => {
      await ctx.client.send(method, `/v2/${fixture.repo}/manifests/${fixture.tags[i % fixture.tags.length]}`, {
        headers: { accept: OCI_MANIFEST }, expect: [200],
      });
    });
    return rateMetrics(scenario, 'req/s', run, count);
  };
}

export const scenarios: Scenario[] = [
  {
    name: 'big-push',
    description: 'monolithic push of a big blob (POST + streamed PUT ?digest=), repeated; server RSS idle and peak',
    async run(ctx) {
      const idle = readRssKiB(ctx.server.pid) ?? NaN;
      const sampler = sampleRss(ctx.server.pid);
      const seconds: number[] = [];
      const digests: string[] = [];
      try {
        for (let variant = 1; variant <= ctx.sizes.samples; variant++) {
          const t0 = performance.now();
          digests.push(await monolithicPush(ctx, 'bench/big', variant));
          seconds.push((performance.now() - t0) / 1000);
        }
      } finally {
        ctx.state.set('peakRssKiB', sampler.stop());
      }
      ctx.state.set('bigDigests', digests);
      return [
        throughputMetric('big-push', ctx.sizes.bigMiB, seconds),
        { scenario: 'rss', metric: 'idle', unit: 'MiB', better: 'lower', value: idle / 1024 },
        { scenario: 'rss', metric: 'peak during big push', unit: 'MiB', better: 'lower', value: (ctx.state.get('peakRssKiB') as number) / 1024 },
      ];
    },
  },
  {
    name: 'big-pull',
    description: 'GET of a big blob by curl, body discarded, repeated',
    async run(ctx) {
      await ensureBigBlob(ctx);
      const digests = ctx.state.get('bigDigests') as string[];
      const seconds: number[] = [];
      for (let i = 0; i < ctx.sizes.samples; i++) {
        seconds.push(await ctx.client.download(`/v2/bench/big/blobs/${digests[i % digests.length]}`, ctx.sizes.bigMiB * MiB));
      }
      return [throughputMetric('big-pull', ctx.sizes.bigMiB, seconds)];
    },
  },
  {
    name: 'chunked-push',
    description: 'big blob pushed in PATCH chunks with Content-Range, closed by PUT ?digest=, repeated',
    async run(ctx) {
      const { client, sizes } = ctx;
      const chunks = Math.ceil(sizes.bigMiB / sizes.chunkMiB);
      const seconds: number[] = [];
      for (let sample = 1; sample <= sizes.samples; sample++) {
        // A content of its own per sample, different from big-push's, so no server can short-cut an existing blob.
        const block = Buffer.from(ctx.body.block);
        block.writeUInt32BE(0xC0FFEE00 + sample, 0);
        const chunk = Buffer.concat(Array.from({ length: sizes.chunkMiB }, () => block));
        const hash = createHash('sha256');
        for (let i = 0; i < chunks; i++) hash.update(chunk);
        const digest = `sha256:${hash.digest('hex')}`;
        const stop = deadline(ctx);
        const t0 = performance.now();
        const start = await client.send('POST', '/v2/bench/chunked/blobs/uploads/', { expect: [202] });
        let location = client.pathOf(start.headers.location);
        for (let i = 0; i < chunks; i++) {
          if (Date.now() > stop) throw new Error(`time bound hit after ${i}/${chunks} chunks`);
          const from = i * chunk.length;
          const reply = await client.send('PATCH', location, {
            headers: {
              'content-type': 'application/octet-stream',
              'content-length': String(chunk.length),
              'content-range': `${from}-${from + chunk.length - 1}`,
            },
            body: chunk, expect: [202],
          });
          location = client.pathOf(reply.headers.location);
        }
        const sep = location.includes('?') ? '&' : '?';
        await client.send('PUT', `${location}${sep}digest=${encodeURIComponent(digest)}`, {
          headers: { 'content-length': '0' }, expect: [201],
        });
        seconds.push((performance.now() - t0) / 1000);
      }
      return [throughputMetric('chunked-push', chunks * sizes.chunkMiB, seconds)];
    },
  },
  {
    name: 'small-push',
    description: '4 KiB blobs, POST + PUT each, concurrency 16',
    async run(ctx) {
      const count = ctx.sizes.smallBlobs;
      const contents = Array.from({ length: count }, () => randomContent(4096));
      const run = await runConcurrent(count, CONCURRENCY, deadline(ctx), async (i) => {
        await pushBlob(ctx.client, 'bench/small', contents[i]!);
      });
      return rateMetrics('small-push', 'blobs/s', run, count);
    },
  },
  { name: 'manifest-put', description: 'manifest PUT by tag, concurrency 16', run: manifestPut },
  { name: 'manifest-get', description: 'manifest GET by tag, concurrency 16', run: manifestRead('GET', 'manifest-get') },
  { name: 'manifest-head', description: 'manifest HEAD by tag, concurrency 16', run: manifestRead('HEAD', 'manifest-head') },
  {
    name: 'blob-head',
    description: 'blob HEAD, concurrency 16',
    async run(ctx) {
      const fixture = await ensureManifests(ctx);
      const count = ctx.sizes.headOps;
      const run = await runConcurrent(count, CONCURRENCY, deadline(ctx), async (i) => {
        await ctx.client.send('HEAD', `/v2/${fixture.repo}/blobs/${fixture.blobs[i % fixture.blobs.length]}`, { expect: [200] });
      });
      return rateMetrics('blob-head', 'req/s', run, count);
    },
  },
  {
    name: 'tags-list',
    description: 'GET tags/list of a repository with many tags: full, and a paginated n=100 walk',
    async run(ctx) {
      const repo = 'bench/tags';
      const config = await pushConfig(ctx.client, repo);
      const body = manifest(config, []);
      const count = ctx.sizes.tags;
      const fill = await runConcurrent(count, CONCURRENCY, deadline(ctx), async (i) => {
        await putManifest(ctx.client, repo, `tag-${String(i).padStart(6, '0')}`, body);
      });
      const created = fill.latencies.length;
      return walkMetrics(ctx, 'tags-list', created, `/v2/${repo}/tags/list`, 'tags');
    },
  },
  {
    name: 'catalog',
    description: 'GET /v2/_catalog over many repositories: full, and a paginated n=100 walk',
    async run(ctx) {
      const count = ctx.sizes.repos;
      const fill = await runConcurrent(count, CONCURRENCY, deadline(ctx), async (i) => {
        const repo = `bench-catalog/r${String(i).padStart(5, '0')}`;
        const config = await pushConfig(ctx.client, repo);
        await putManifest(ctx.client, repo, 'latest', manifest(config, []));
      });
      const created = fill.latencies.length;
      return walkMetrics(ctx, 'catalog', created, '/v2/_catalog', 'repositories');
    },
  },
];

interface Walk { ms: number; pages: number; items: number }

/** Follows Link rel="next" until the end (bounded), timing the whole walk. */
async function timedWalk(client: BenchClient, first: string, field: string): Promise<Walk> {
  const t0 = performance.now();
  let path: string | undefined = first;
  let pages = 0;
  let items = 0;
  while (path && pages < 100_000) {
    const reply = await client.send('GET', path, { expect: [200] });
    pages++;
    items += (JSON.parse(reply.body.toString('utf8'))[field] ?? []).length;
    const next = /<([^>]+)>;\s*rel="?next"?/.exec(reply.headers.link ?? '');
    path = next ? client.pathOf(next[1]) : undefined;
  }
  return { ms: performance.now() - t0, pages, items };
}

/**
 * The first full list right after the writes (a server that caches pays its cache miss here), then the median of
 * repeated full lists and of repeated paginated walks, as a client polling the list would see them.
 */
async function walkMetrics(ctx: Context, scenario: string, created: number, path: string, field: string): Promise<Metric[]> {
  const first = await timedWalk(ctx.client, path, field);
  const full: Walk[] = [];
  const paged: Walk[] = [];
  for (let i = 0; i < ctx.sizes.samples; i++) {
    full.push(await timedWalk(ctx.client, path, field));
    paged.push(await timedWalk(ctx.client, `${path}?n=100`, field));
  }
  const note = (w: Walk) => `${w.items}/${created} items in ${w.pages} page(s)`;
  const ms = (walks: Walk[]) => median(walks.map((w) => w.ms));
  return [
    { scenario, metric: 'first full list', unit: 'ms', better: 'lower', value: first.ms, note: note(first) },
    { scenario, metric: 'full list', unit: 'ms', better: 'lower', value: ms(full), note: `median of ${full.length}` },
    { scenario, metric: 'n=100 walk', unit: 'ms', better: 'lower', value: ms(paged), note: `median of ${paged.length}; ${note(paged[0]!)}` },
  ];
}
