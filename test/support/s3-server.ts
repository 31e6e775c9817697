// A real S3-compatible server for tests: versitygw (built by test/tools/install.sh) over a temporary directory.
// Objects are plain files under <dataDir>/<bucket>/<key>, so a test may look at what the registry stored through
// the filesystem. Root credentials are random per server; nothing here ever logs them.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { tool } from '../registry/tools.ts';
import { waitUntilAccepting } from './port.ts';

/** region versitygw serves unless told otherwise */
export const S3_TEST_REGION = 'us-east-1';
const FIRST_PORT = 20000;
const PORT_COUNT = 10000;
const START_ATTEMPTS = 5;
const LISTEN_TIMEOUT_MS = 20_000;

export interface S3Server {
  /** e.g. http://127.0.0.1:24567 */
  endpoint: string;
  host: string;
  port: number;
  region: string;
  accessKey: string;
  secretKey: string;
  /** the directory versitygw stores in: one subdirectory per bucket */
  dataDir: string;
  createBucket(name: string): Promise<void>;
  /** where a bucket's objects lie on disk (an object `a/b` is the file `<bucketDir>/a/b`) */
  bucketDir(name: string): string;
  /**
   * Writes the credentials into two files (mode 0600) for a registry config's accessKeyFile/secretKeyFile,
   * in a directory of this server's that stop() removes.
   */
  writeCredentialFiles(): { accessKeyFile: string; secretKeyFile: string };
  stop(): Promise<void>;
  logs(): string;
}

export interface S3ServerOptions {
  /** the address to listen on: 127.0.0.1 by default; an e2e passes the node address pods can reach */
  host?: string;
  /**
   * keep versitygw's log of every request (a line each: status, method, path) in logs(), for a probe that counts
   * the requests an operation costs; off by default (a test's output would be mostly that log)
   */
  requestLog?: boolean;
  /**
   * keep connections open between requests, as production S3 servers do (the bench's setting); off by default, so
   * the tests see versitygw close every connection after its answer and exercise the drivers' reconnects
   */
  keepAlive?: boolean;
}

/** Starts versitygw on a free port in 20000-29999, retrying on another port when the one picked is taken. */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const host = options.host ?? '127.0.0.1';
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const port = FIRST_PORT + Math.floor(Math.random() * PORT_COUNT);
    try {
      return await startOnPort(host, port, options);
    } catch (error) {
      lastError = error;
      if (!(error instanceof PortTakenError)) throw error;
    }
  }
  throw lastError;
}

class PortTakenError extends Error {}

async function startOnPort(host: string, port: number, options: S3ServerOptions): Promise<S3Server> {
  const workDir = mkdtempSync(join(tmpdir(), 'regop-s3-'));
  const dataDir = join(workDir, 'data');
  const secretsDir = join(workDir, 'secrets');
  const accessKey = `regop${randomBytes(8).toString('hex')}`;
  const secretKey = randomBytes(24).toString('base64url');
  mkdirSync(dataDir);
  mkdirSync(secretsDir, { mode: 0o700 });

  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const flags = [...(options.requestLog ? [] : ['--quiet']), ...(options.keepAlive ? ['--keep-alive'] : [])];
  const child = spawn(tool('versitygw'), ['--port', address, ...flags, 'posix', dataDir], {
    // the credentials go through the environment, so they never appear in a process listing
    env: { ...process.env, ROOT_ACCESS_KEY: accessKey, ROOT_SECRET_KEY: secretKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', (error: NodeJS.ErrnoException) => {
    reject(error.code === 'ENOENT'
      ? new Error('versitygw: not found in the tools cache nor on the PATH; run test/tools/install.sh')
      : error);
  }));
  try {
    await Promise.race([waitUntilAccepting(host, port, { hasExited: () => child.exitCode !== null, timeoutMs: LISTEN_TIMEOUT_MS }), spawnFailed]);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(workDir, { recursive: true, force: true });
    if (/address already in use/i.test(output)) throw new PortTakenError(`port ${port} is taken`);
    throw new Error(`versitygw did not start on ${address}: ${(error as Error).message}\n${output}`);
  }

  const endpoint = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const client = new S3Client({
    endpoint, region: S3_TEST_REGION, forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  let credentialFiles: { accessKeyFile: string; secretKeyFile: string } | undefined;
  return {
    endpoint, host, port, region: S3_TEST_REGION, accessKey, secretKey, dataDir,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    bucketDir: (name) => join(dataDir, name),
    writeCredentialFiles() {
      if (!credentialFiles) {
        credentialFiles = { accessKeyFile: join(secretsDir, 'access-key'), secretKeyFile: join(secretsDir, 'secret-key') };
        writeFileSync(credentialFiles.accessKeyFile, accessKey, { mode: 0o600 });
        writeFileSync(credentialFiles.secretKeyFile, secretKey, { mode: 0o600 });
      }
      return credentialFiles;
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(workDir, { recursive: true, force: true });
    },
    logs: () => output,
  };
}

/** Resolves once the port accepts connections; fails when the process has exited or the time is up. */
