// Starts our registry and CNCF distribution with equivalent settings, one at a time, for the benchmark.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import bcrypt from 'bcryptjs';
import { randomBytes } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { startRegistry, freePort, waitForListening } from '../support/registry.ts';
import { makeTestCertificate, type TestCertificate } from '../support/tls.ts';

export type ServerKind = 'ours' | 'distribution';
export type Mode = 'tls+auth' | 'plain';

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

let certificate: TestCertificate | undefined;
function cert(): TestCertificate {
  // RSA key generation in forge is slow; one certificate serves every server of the run.
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
export async function startServer(kind: ServerKind, mode: Mode, mirror?: MirroredUpstream): Promise<BenchServer> {
  return kind === 'ours' ? startOurs(mode, undefined, mirror) : startDistribution(mode, mirror);
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

async function startOurs(mode: Mode, storageDir?: string, mirror?: MirroredUpstream): Promise<BenchServer> {
  const secure = mode === 'tls+auth';
  const adminDir = mkdtempSync(join(tmpdir(), 'regop-bench-admin-'));
  const adminToken = randomBytes(24).toString('hex');
  writeFileSync(join(adminDir, 'token'), adminToken, { mode: 0o600 });
  const registry = await startRegistry({
    ...(storageDir ? { storageDir } : {}),
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
      return startOurs(mode, registry.storageDir, mirror);
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

async function startDistribution(mode: Mode, mirror?: MirroredUpstream): Promise<BenchServer> {
  const secure = mode === 'tls+auth';
  const workDir = mkdtempSync(join(tmpdir(), 'regop-bench-dist-'));
  const storageDir = join(workDir, 'storage');
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
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
    const c = cert();
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
