// Starts our registry and CNCF distribution with equivalent settings, one at a time, for the benchmark.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import bcrypt from 'bcrypt';
import { randomBytes } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { startRegistry, freePort, waitForListening } from '../support/registry.ts';
import { makeTestCertificate, type TestCertificate } from '../support/tls.ts';
import type { S3Server } from '../support/s3-server.ts';

export type ServerKind = 'ours' | 'distribution';
export type Mode = 'tls+auth' | 'plain';
/** where a server stores: a directory of its own, or a fresh bucket of its own on one S3 server for the run */
export type BenchStorage = 'filesystem' | 's3';

let s3Server: S3Server | undefined;
/** the S3 server every `s3` run stores on (one versitygw for the whole benchmark) */
export function useS3Server(server: S3Server | undefined): void {
  s3Server = server;
}

/** the bucket of one server: created fresh per start, so no run sees another's objects */
export interface BenchBucket { server: S3Server; bucket: string }

async function freshBucket(): Promise<BenchBucket> {
  if (!s3Server) throw new Error('the s3 storage needs an S3 server: call useS3Server first');
  const bucket = `bench-${randomBytes(6).toString('hex')}`;
  await s3Server.createBucket(bucket);
  return { server: s3Server, bucket };
}

export const BENCH_USER = { name: 'bench', password: 'bench-password' };
export const DISTRIBUTION_BIN = '/usr/bin/docker-registry';
// The cost startRegistry uses for its htpasswd; distribution gets the same so auth costs the same per check.
const BCRYPT_COST = 5;

export interface BenchServer {
  kind: ServerKind;
  mode: Mode;
  url: string;
  pid: number;
  caPem?: string;
  storageDir: string;
  /** distribution's config file, which its offline garbage-collect needs */
  configFile?: string;
  /** bearer token of our admin API, which runs garbage collection online */
  adminToken?: string;
  logs(): string;
  stop(): Promise<void>;
  /** removes the temp dirs; call after stop (and after any offline GC) */
  cleanup(): void;
  /** ours: stops this process and starts a fresh one on the same storage (cleanup stays with the first) */
  restart?(): Promise<BenchServer>;
}

/**
 * An upstream registry for the mirror scenario: ours mirrors it through `mirrors:` under MIRROR_PREFIX,
 * distribution in its proxy mode (`proxy.remoteurl`), which serves the upstream's repository names as they are.
 */
export interface MirroredUpstream {
  url: string;
  /** the CA that signed the upstream's certificate */
  caPem: string;
  credentials: { username: string; password: string };
}
/** docker.io, as users configure it, so a one-component name gets `library/` as on Docker Hub */
export const MIRROR_PREFIX = 'docker.io';

let certificate: Promise<TestCertificate> | undefined;
function cert(): Promise<TestCertificate> {
  // one certificate serves every server of the run
  certificate ??= makeTestCertificate(['localhost', '127.0.0.1']);
  return certificate;
}

export function distributionVersion(): string {
  try {
    return execFileSync(DISTRIBUTION_BIN, ['--version'], { encoding: 'utf8' }).trim();
  } catch (error) {
    return `unavailable (${(error as Error).message})`;
  }
}

/** Which build of ours runs: this checkout's dist/ unless --ours names another build's cli.js. */
let ourEntryPoint: string | undefined;
export function useOurEntryPoint(path: string | undefined): void {
  ourEntryPoint = path;
}

/** `mirror`: the server is a pull-through mirror of that upstream (on empty storage, as every start) */
export async function startServer(kind: ServerKind, mode: Mode, mirror?: MirroredUpstream, storage: BenchStorage = 'filesystem'): Promise<BenchServer> {
  const bucket = storage === 's3' ? await freshBucket() : undefined;
  return kind === 'ours' ? startOurs(mode, undefined, mirror, bucket) : startDistribution(mode, mirror, bucket);
}

/** the mirrors: config a user would write for one upstream (tagTTL, timeout: the defaults) */
function writeOurMirrorConfig(dir: string, mirror: MirroredUpstream): string {
  writeFileSync(join(dir, 'upstream-ca.pem'), mirror.caPem);
  writeFileSync(join(dir, 'upstream-credentials.yaml'), toYaml(mirror.credentials), { mode: 0o600 });
  const file = join(dir, 'mirrors.yaml');
  writeFileSync(file, toYaml({
    mirrors: [{
      name: MIRROR_PREFIX, upstream: mirror.url,
      caFile: join(dir, 'upstream-ca.pem'), credentialsFile: join(dir, 'upstream-credentials.yaml'),
    }],
  }));
  return file;
}

async function startOurs(mode: Mode, storageDir?: string, mirror?: MirroredUpstream, bucket?: BenchBucket): Promise<BenchServer> {
  const secure = mode === 'tls+auth';
  const adminDir = mkdtempSync(join(tmpdir(), 'regop-bench-admin-'));
  const adminToken = randomBytes(24).toString('hex');
  writeFileSync(join(adminDir, 'token'), adminToken, { mode: 0o600 });
  const registry = await startRegistry({
    ...(storageDir ? { storageDir } : {}),
    ...(bucket ? { storage: { s3: { server: bucket.server, bucket: bucket.bucket } } } : {}),
    tls: secure,
    ...(secure ? { users: [BENCH_USER] } : {}),
    extraArgs: ['--log-level', 'warn', '--admin-token-file', join(adminDir, 'token'),
      ...(mirror ? ['--config', writeOurMirrorConfig(adminDir, mirror)] : [])],
    compiled: true,
    ...(ourEntryPoint ? { entryPoint: ourEntryPoint } : {}),
  });
  // startRegistry spawns process.execPath itself (no shell, no npx), so this pid is the server's own.
  const pid = registry.child.pid!;
  let stopped = false;
  const server: BenchServer = {
    kind: 'ours', mode, url: registry.url, pid, storageDir: registry.storageDir, adminToken,
    ...(registry.caPem ? { caPem: registry.caPem } : {}),
    logs: registry.logs,
    async restart() {
      await server.stop();
      // the storage stays in the first server's work dir: the fresh one's cleanup removes only its own dirs
      return startOurs(mode, bucket ? undefined : registry.storageDir, mirror, bucket);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // stop() would delete the storage we still want for offline GC; signal the child ourselves instead.
      await new Promise<void>((resolve) => {
        if (registry.child.exitCode !== null || registry.child.signalCode !== null) return resolve();
        registry.child.once('exit', () => resolve());
        registry.child.kill('SIGTERM');
      });
    },
    cleanup: () => {
      rmSync(registry.workDir, { recursive: true, force: true });
      rmSync(adminDir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * distribution's s3aws driver on the run's S3 server. Its default answers blob GETs with a redirect to the
 * bucket; ours serves them itself unless told (storage.s3.redirect), so distribution's redirect is turned off
 * too: both then carry the same bytes.
 */
function distributionS3Storage({ server, bucket }: BenchBucket): string[] {
  return [
    '  s3:',
    `    accesskey: ${JSON.stringify(server.accessKey)}`,
    `    secretkey: ${JSON.stringify(server.secretKey)}`,
    `    region: ${server.region}`,
    `    regionendpoint: ${server.endpoint}`,
    `    bucket: ${bucket}`,
    '    secure: false',
    '    v4auth: true',
    '    rootdirectory: /',
    '  redirect:',
    '    disable: true',
  ];
}

async function startDistribution(mode: Mode, mirror?: MirroredUpstream, bucket?: BenchBucket): Promise<BenchServer> {
  const secure = mode === 'tls+auth';
  const workDir = mkdtempSync(join(tmpdir(), 'regop-bench-dist-'));
  // on S3, versitygw keeps the bucket's objects as files: the GC scenario counts them there
  const storageDir = bucket ? bucket.server.bucketDir(bucket.bucket) : join(workDir, 'storage');
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    ...(bucket ? distributionS3Storage(bucket) : ['  filesystem:', `    rootdirectory: ${storageDir}`]),
    '  delete:',
    '    enabled: true',
    // Debian's shipped default; left on because that is how distribution is normally run.
    '  cache:',
    '    blobdescriptor: inmemory',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  let caPem: string | undefined;
  if (secure) {
    const c = await cert();
    caPem = c.caPem;
    writeFileSync(join(workDir, 'tls.crt'), c.certPem);
    writeFileSync(join(workDir, 'tls.key'), c.keyPem, { mode: 0o600 });
    lines.push('  tls:', `    certificate: ${join(workDir, 'tls.crt')}`, `    key: ${join(workDir, 'tls.key')}`);
    writeFileSync(join(workDir, 'htpasswd'), `${BENCH_USER.name}:${bcrypt.hashSync(BENCH_USER.password, BCRYPT_COST)}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: bench', `    path: ${join(workDir, 'htpasswd')}`);
  }
  // The default catalog page cap (1000) would otherwise make "full catalog" a paginated one.
  lines.push('catalog:', '  maxentries: 100000');
  const env: NodeJS.ProcessEnv = { ...process.env };
  // aws-sdk-go v1 panics at start when AWS_CA_BUNDLE is set and the transport is distribution's own; the
  // endpoint here is plain HTTP on loopback, so no CA bundle is needed
  if (bucket) delete env.AWS_CA_BUNDLE;
  if (mirror) {
    lines.push('proxy:', `  remoteurl: ${mirror.url}`,
      `  username: ${JSON.stringify(mirror.credentials.username)}`, `  password: ${JSON.stringify(mirror.credentials.password)}`);
    // distribution has no setting for an upstream CA: Go reads the trusted roots from SSL_CERT_FILE
    writeFileSync(join(workDir, 'upstream-ca.pem'), mirror.caPem);
    env.SSL_CERT_FILE = join(workDir, 'upstream-ca.pem');
  }
  const configFile = join(workDir, 'config.yml');
  writeFileSync(configFile, lines.join('\n') + '\n');

  const child = spawn(DISTRIBUTION_BIN, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout!.on('data', (d) => (output = (output + d).slice(-20_000)));
  child.stderr!.on('data', (d) => (output = (output + d).slice(-20_000)));
  await waitForListening(child, port, () => output);
  let stopped = false;
  return {
    kind: 'distribution', mode, url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`, pid: child.pid!,
    storageDir, configFile, ...(caPem ? { caPem } : {}),
    logs: () => output,
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        // distribution drains connections on SIGTERM; do not wait forever for it.
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      });
    },
    cleanup: () => rmSync(workDir, { recursive: true, force: true }),
  };
}

/** Resident set size in KiB, or undefined once the process is gone. */
export function readRssKiB(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

export interface RssSampler { stop(): number }

/** Samples VmRSS every 50 ms; stop() returns the peak seen, in KiB. */
export function sampleRss(pid: number): RssSampler {
  let peak = readRssKiB(pid) ?? 0;
  const timer = setInterval(() => {
    const rss = readRssKiB(pid);
    if (rss !== undefined && rss > peak) peak = rss;
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      const rss = readRssKiB(pid);
      if (rss !== undefined && rss > peak) peak = rss;
      return peak;
    },
  };
}

export interface OfflineRun { ok: boolean; ms: number; peakRssKiB: number; exitCode: number | null; outputTail: string }

/** Runs an offline command (GC) and measures its wall time and peak RSS. */
export async function runMeasured(command: string, args: string[], timeoutMs: number): Promise<OfflineRun> {
  const started = performance.now();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const sampler = sampleRss(child.pid!);
  let tail = '';
  // distribution's GC prints a line per blob; keep only the end for the report.
  const keep = (d: Buffer) => (tail = (tail + d).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exitCode = await new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  clearTimeout(killer);
  const ms = performance.now() - started;
  const peakRssKiB = sampler.stop();
  return { ok: exitCode === 0, ms, peakRssKiB, exitCode, outputTail: tail.trim() };
}

export function distributionGcCommand(configFile: string): [string, string[]] {
  return [DISTRIBUTION_BIN, ['garbage-collect', configFile]];
}
