// `npm run bench`: the same workload against our registry and CNCF distribution, one server at a time.
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchClient, RepeatedBody } from './client.ts';
import { scenarios, FULL, QUICK, CONCURRENCY, type Metric, type Context } from './scenarios.ts';
import { gcScenario } from './gc.ts';
import { mirrorScenario, startMirrorUpstream, type MirrorUpstream } from './mirror.ts';
import { operatorScenario, ensureCluster, teardownCluster } from './operator.ts';
import { startServer, distributionVersion, useOurEntryPoint, useS3Server, type BenchStorage, type Mode, type ServerKind } from './servers.ts';
import { startS3Server, type S3Server } from '../support/s3-server.ts';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ALL_MODES: Mode[] = ['tls+auth', 'plain'];
const KINDS: ServerKind[] = ['ours', 'distribution'];
const ALL_STORAGES: BenchStorage[] = ['filesystem', 's3'];
const SCENARIO_NAMES = [...scenarios.map((s) => s.name), 'gc', 'mirror', 'operator'];

/**
 * 'any': a figure the mode does not change (GC: the collection itself does no HTTP); 'cluster': the operator's;
 * on S3 storage the mode is suffixed ' s3' ('s3' alone for GC)
 */
type RowMode = Mode | 'any' | 'cluster' | `${Mode} s3` | 's3';
interface Row extends Metric { mode: RowMode; server: ServerKind }

const program = new Command()
  .name('bench')
  .description('Benchmark our registry against CNCF distribution on loopback')
  .option('--quick', 'scaled-down sizes for a fast end-to-end run')
  .option('--modes <list>', `comma-separated: ${ALL_MODES.join(',')}`, ALL_MODES.join(','))
  .option('--only <list>', `comma-separated scenarios: ${SCENARIO_NAMES.join(',')}`)
  .option('--servers <list>', 'comma-separated: ours,distribution', KINDS.join(','))
  .option('--storage <list>', `comma-separated: ${ALL_STORAGES.join(',')} (s3: both servers on one versitygw, a bucket each; the request scenarios and gc)`, 'filesystem')
  .option('--out <file>', 'results JSON (default .bench-results/bench-<timestamp>.json)')
  .option('--gc-blobs <n>', 'blobs the gc scenario stores (default 100000, 5000 with --quick)', (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 10) throw new Error(`--gc-blobs: a whole number of at least 10, not "${value}"`);
    return n;
  })
  .option('--ours <cli.js>', "another build of our registry to run instead of this checkout's dist/ (e.g. an older commit's, for before/after)")
  .parse();

const options = program.opts<{ quick?: boolean; modes: string; only?: string; servers: string; storage: string; out?: string; ours?: string; gcBlobs?: number }>();

function list<T extends string>(value: string, allowed: readonly string[], what: string): T[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) if (!allowed.includes(item)) throw new Error(`unknown ${what} "${item}"; choose from ${allowed.join(', ')}`);
  return items as T[];
}

const modes = list<Mode>(options.modes, ALL_MODES, 'mode');
if (options.ours) useOurEntryPoint(resolve(options.ours));
const selected = options.only ? list<string>(options.only, SCENARIO_NAMES, 'scenario') : SCENARIO_NAMES;
const kinds = list<ServerKind>(options.servers, KINDS, 'server');
const storages = list<BenchStorage>(options.storage, ALL_STORAGES, 'storage');
const sizes = { ...(options.quick ? QUICK : FULL), ...(options.gcBlobs ? { gcBlobs: options.gcBlobs } : {}) };
const startedAt = new Date();
const out = resolve(options.out ?? join(projectRoot, '.bench-results', `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`));

const header = {
  startedAt: startedAt.toISOString(),
  cores: availableParallelism(),
  cpu: cpus()[0]?.model ?? 'unknown',
  node: process.version,
  distribution: distributionVersion(),
  ours: options.ours ? resolve(options.ours) : 'dist/ of this checkout',
  quick: !!options.quick,
  sizes,
  concurrency: CONCURRENCY,
  modes,
  storages,
  scenarios: selected,
};
const log = (line: string) => process.stderr.write(line + '\n');
log(`regop bench — ${header.cores} cores (${header.cpu}), Node ${header.node}, ${header.distribution}`);
log(`sizes: ${JSON.stringify(sizes)}; concurrency ${CONCURRENCY}; modes ${modes.join(', ')}; storage ${storages.join(', ')}`);

const rows: Row[] = [];
const errors: Array<{ mode: RowMode; server: ServerKind; scenario: string; error: string }> = [];
const body = new RepeatedBody();
// Hash the big body before any server starts, so the client's hashing never overlaps a timed run.
if (scenarios.some((s) => selected.includes(s.name))) {
  for (let variant = 1; variant <= sizes.samples; variant++) body.digest(sizes.bigMiB, variant);
}

function record(metric: Metric, mode: RowMode, server: ServerKind): void {
  rows.push({ ...metric, mode, server });
  log(`    ${metric.scenario} ${metric.metric}: ${format(metric.value)} ${metric.unit}${metric.note ? ` (${metric.note})` : ''}`);
}

function failed(mode: RowMode, server: ServerKind, scenario: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  errors.push({ mode, server, scenario, error: message });
  rows.push({ mode, server, scenario, metric: 'error', unit: '', better: 'lower', value: NaN, note: message.slice(0, 200) });
  log(`    ${scenario} FAILED: ${message}`);
}

let s3: S3Server | undefined;
if (storages.includes('s3')) {
  // with keep-alive, as AWS S3, Ceph RGW, SeaweedFS and MinIO serve: neither server pays a connection per request
  s3 = await startS3Server({ keepAlive: true });
  useS3Server(s3);
  log(`s3: versitygw at ${s3.endpoint} with keep-alive, a fresh bucket per server`);
}

const rowMode = (mode: Mode, storage: BenchStorage): RowMode => (storage === 's3' ? `${mode} s3` : mode);

for (const storage of storages) {
  for (const mode of modes) {
    for (const kind of kinds) {
      const online = scenarios.filter((s) => selected.includes(s.name));
      if (online.length === 0) continue;
      const label = rowMode(mode, storage);
      log(`[${label}] ${kind}: starting`);
      let server: Awaited<ReturnType<typeof startServer>>;
      try {
        server = await startServer(kind, mode, undefined, storage);
      } catch (error) {
        for (const scenario of online) failed(label, kind, scenario.name, error);
        continue;
      }
      const client = new BenchClient(server, CONCURRENCY);
      const ctx: Context = { client, server, sizes, body, state: new Map() };
      try {
        for (const scenario of online) {
          log(`  ${scenario.name}: ${scenario.description}`);
          try {
            for (const metric of await scenario.run(ctx)) {
              record(metric, label, kind);
            }
          } catch (error) {
            failed(label, kind, scenario.name, error);
          }
        }
      } finally {
        await client.close().catch(() => {});
        await server.stop();
        server.cleanup();
      }
    }
  }
}

// The collection does no HTTP, so the mode would change only how long the setup takes (over 10 minutes for
// distribution at full size): GC runs once per server and storage, over plain HTTP when that mode is selected.
if (selected.includes('gc')) {
  const setupMode = modes.includes('plain') ? 'plain' : modes[0]!;
  for (const storage of storages) {
    const label: RowMode = storage === 's3' ? 's3' : 'any';
    for (const kind of kinds) {
      log(`[gc${storage === 's3' ? ' s3' : ''}] ${kind}: setup over ${setupMode}`);
      try {
        for (const metric of await gcScenario(kind, setupMode, sizes, log, storage)) {
          record(metric, label, kind);
        }
      } catch (error) {
        failed(label, kind, 'gc', error);
      }
    }
  }
}
await s3?.stop();

// One upstream for both servers in every mode: each server starts on empty storage as its mirror.
if (selected.includes('mirror')) {
  log('[mirror] upstream: distribution with TLS and token auth behind a counting proxy');
  let fixture: MirrorUpstream | undefined;
  try {
    fixture = await startMirrorUpstream(sizes, log);
  } catch (error) {
    for (const kind of kinds) failed('any', kind, 'mirror', error);
  }
  try {
    for (const mode of modes) {
      for (const kind of kinds) {
        if (!fixture) break;
        log(`[mirror] [${mode}] ${kind}`);
        try {
          for (const metric of await mirrorScenario(kind, mode, fixture, sizes.samples, log)) record(metric, mode, kind);
        } catch (error) {
          failed(mode, kind, 'mirror', error);
        }
      }
    }
  } finally {
    await fixture?.stop();
  }
}

// The operator has no counterpart in distribution: absolute figures only.
if (selected.includes('operator') && kinds.includes('ours')) {
  log('[operator] on a real cluster');
  let startedHere = false;
  try {
    startedHere = (await ensureCluster(log)).startedHere;
    for (const metric of await operatorScenario(log, { registries: sizes.registries, timeoutSeconds: sizes.scenarioSeconds })) {
      record(metric, 'cluster', 'ours');
    }
  } catch (error) {
    failed('cluster', 'ours', 'operator', error);
  } finally {
    if (startedHere) await teardownCluster().catch((error: unknown) => failed('cluster', 'ours', 'cluster-down', error));
  }
}

function format(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

interface TableRow {
  mode: RowMode; scenario: string; metric: string; unit: string; better: string;
  ours: number; distribution: number; ratio: number; notes: string;
}

const table: TableRow[] = [];
for (const row of rows) {
  if (table.some((t) => t.mode === row.mode && t.scenario === row.scenario && t.metric === row.metric)) continue;
  const find = (server: ServerKind) => rows.find((r) => r.mode === row.mode && r.scenario === row.scenario && r.metric === row.metric && r.server === server);
  const ours = find('ours');
  const dist = find('distribution');
  const notes = [ours?.note && `ours: ${ours.note}`, dist?.note && `dist: ${dist.note}`].filter(Boolean).join('; ');
  table.push({
    mode: row.mode, scenario: row.scenario, metric: row.metric, unit: row.unit, better: row.better,
    ours: ours?.value ?? NaN, distribution: dist?.value ?? NaN,
    ratio: (ours?.value ?? NaN) / (dist?.value ?? NaN), notes,
  });
}

const columns = ['mode', 'scenario', 'metric', 'unit', 'ours', 'distribution', 'ours/dist', 'better', 'notes'];
const cells = table.map((t) => [
  t.mode, t.scenario, t.metric, t.unit, format(t.ours), format(t.distribution),
  Number.isFinite(t.ratio) ? `${t.ratio.toFixed(2)}×` : '—', `${t.better} is better`, t.notes,
]);
const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
const line = (r: string[]) => r.map((c, i) => (i >= 4 && i <= 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
console.log(`\nregop bench — ${header.cores} cores, Node ${header.node}, ${header.distribution}${header.quick ? ' (quick)' : ''}`);
console.log(line(columns));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of cells) console.log(line(r));

mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ header, table, rows, errors }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
console.log(`\nresults: ${out}`);
if (errors.length) console.log(`${errors.length} scenario(s) failed; see "errors" in the JSON.`);
