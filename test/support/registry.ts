// Starts a real regop-registry process for integration tests and tears it down again.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import bcrypt from 'bcrypt';
import { makeTestCertificate } from './tls.ts';
import { waitUntilAccepting } from './port.ts';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = join(projectRoot, 'registry', 'src', 'cli.ts');
/** the compiled entry point, as the image runs it (after `npm run build`) */
/** what the image runs: the registry bundle (operator/hack/bundle.ts) */
export const compiledCliPath = join(projectRoot, 'dist', 'bundle', 'registry', 'registry.mjs');

export interface TestUser {
  name: string;
  password: string;
  /** access rules: repository glob → actions */
  access?: Array<{ repositories: string[]; actions: Array<'pull' | 'push' | 'delete'> }>;
}

/** an S3 server's address and root credentials; test/support/s3-server.ts's S3Server is one */
export interface S3Endpoint {
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  /** where the server keeps a bucket's objects as files (versitygw), for tests that look at what was stored */
  bucketDir(bucket: string): string;
}

export type TestStorage =
  /** a directory (storageDir, or a fresh one); `shared`: other registry processes store in it too */
  | { shared?: boolean }
  /** a bucket that exists on an S3 server, under `prefix`: always shared */
  | { s3: { server: S3Endpoint; bucket: string; prefix?: string; redirect?: boolean } };

export interface StartOptions {
  tls?: boolean;
  users?: TestUser[];
  anonymousPull?: boolean;
  /** reuse an existing storage directory (e.g. after a kill, or a second process on shared storage) */
  storageDir?: string;
  /** where to store: a directory by default */
  storage?: TestStorage;
  /** more of the config file (e.g. mirrors, limits), merged with what `storage` writes; pass no --config in extraArgs then */
  config?: Record<string, unknown>;
  extraArgs?: string[];
  env?: Record<string, string>;
  port?: number;
  /** run the compiled JavaScript instead of the TypeScript sources (benchmarks: what production runs) */
  compiled?: boolean;
  /** another build's cli.js (benchmarks: an older commit's, for a before/after comparison) */
  entryPoint?: string;
}

export interface RunningRegistry {
  /** e.g. https://127.0.0.1:43123 */
  url: string;
  /** host:port, as registry clients want it */
  host: string;
  port: number;
  /** where the stored files lie; on S3, the bucket's directory on the test S3 server, under the prefix */
  storageDir: string;
  workDir: string;
  /** PEM of the CA that signed the serving certificate (when tls) */
  caFile?: string;
  caPem?: string;
  child: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRegistry(options: StartOptions = {}): Promise<RunningRegistry> {
  const workDir = mkdtempSync(join(tmpdir(), 'regop-test-'));
  const s3 = options.storage && 's3' in options.storage ? options.storage.s3 : undefined;
  if (s3 && options.storageDir) throw new Error('startRegistry: give storageDir or storage.s3, not both');
  const storageDir = s3
    ? join(s3.server.bucketDir(s3.bucket), s3.prefix ?? '')
    : options.storageDir ?? join(workDir, 'storage');
  const port = options.port ?? (await freePort());
  const args = [options.entryPoint ?? (options.compiled ? compiledCliPath : cliPath), 'serve', '--listen', `127.0.0.1:${port}`];
  if (!s3) args.push('--storage', storageDir);
  const configFile = writeConfigFile(workDir, options);
  if (configFile) {
    if (options.extraArgs?.some((arg) => arg === '--config' || arg === '-c')) {
      throw new Error('startRegistry: with storage or config options, pass the config through options.config, not --config');
    }
    args.push('--config', configFile);
  }
  let caFile: string | undefined;
  let caPem: string | undefined;
  if (options.tls) {
    const cert = await makeTestCertificate(['localhost', '127.0.0.1']);
    caFile = join(workDir, 'ca.crt');
    caPem = cert.caPem;
    writeFileSync(caFile, cert.caPem);
    writeFileSync(join(workDir, 'tls.crt'), cert.certPem);
    writeFileSync(join(workDir, 'tls.key'), cert.keyPem, { mode: 0o600 });
    args.push('--tls-cert', join(workDir, 'tls.crt'), '--tls-key', join(workDir, 'tls.key'));
  }
  if (options.users?.length) {
    const lines = options.users.map((u) => `${u.name}:${bcrypt.hashSync(u.password, 5)}`);
    writeFileSync(join(workDir, 'htpasswd'), lines.join('\n') + '\n');
    args.push('--htpasswd', join(workDir, 'htpasswd'));
    const rules = options.users.map((u) => ({
      user: u.name,
      rules: u.access ?? [{ repositories: ['**'], actions: ['pull', 'push', 'delete'] }],
    }));
    writeFileSync(join(workDir, 'access.yaml'), JSON.stringify({ users: rules, anonymousPull: !!options.anonymousPull }));
    args.push('--access', join(workDir, 'access.yaml'));
  }
  args.push(...(options.extraArgs ?? []));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const scheme = options.tls ? 'https' : 'http';
  const host = `127.0.0.1:${port}`;
  const url = `${scheme}://${host}`;
  await waitForListening(child, port, () => output);

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    url, host, port, storageDir, workDir, caFile, caPem, child,
    logs: () => output,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      if (!options.storageDir) rmSync(workDir, { recursive: true, force: true });
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The config file the storage and config options ask for (JSON, which YAML reads); undefined when none is needed. */
function writeConfigFile(workDir: string, options: StartOptions): string | undefined {
  const { storage, config } = options;
  if (!storage && !config) return undefined;
  const section: Record<string, unknown> = { ...(config?.storage as Record<string, unknown> | undefined) };
  if (storage && 's3' in storage) {
    const { server, bucket, prefix, redirect } = storage.s3;
    const accessKeyFile = join(workDir, 's3-access-key');
    const secretKeyFile = join(workDir, 's3-secret-key');
    writeFileSync(accessKeyFile, server.accessKey, { mode: 0o600 });
    writeFileSync(secretKeyFile, server.secretKey, { mode: 0o600 });
    section.s3 = {
      bucket, prefix: prefix ?? '', endpoint: server.endpoint, region: server.region, forcePathStyle: true,
      accessKeyFile, secretKeyFile, redirect: redirect ?? false,
    };
  } else if (storage?.shared !== undefined) {
    section.shared = storage.shared;
  }
  const file = join(workDir, 'config.yaml');
  writeFileSync(file, JSON.stringify({ ...config, storage: section }, null, 2));
  return file;
}

/** Resolves once something listens on the port; fails early if the process exits. */
export async function waitForListening(child: ChildProcess, port: number, logs: () => string): Promise<void> {
  try {
    await waitUntilAccepting('127.0.0.1', port, { hasExited: () => child.exitCode !== null });
  } catch (error) {
    throw new Error(`${(error as Error).message} (exit code ${child.exitCode}):\n${logs()}`);
  }
}
