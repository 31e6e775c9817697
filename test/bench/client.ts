// One HTTP client for both servers: an undici Pool with keep-alive, so neither side pays for connection setup.
// Big downloads go through curl instead: a Node client allocates and parses every chunk in JavaScript and tops
// out below what either server sends, so it would measure itself.
import { Pool, type Dispatcher } from 'undici';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { BenchServer } from './servers.ts';
import { BENCH_USER } from './servers.ts';

export const MiB = 1024 * 1024;

export interface Reply { status: number; headers: Record<string, string>; body: Buffer }

export class RequestFailed extends Error {}

export class BenchClient {
  readonly origin: string;
  private readonly pool: Pool;
  private readonly auth: string | undefined;
  /** curl's arguments for TLS and credentials, and the directory of its CA file */
  private readonly curlArgs: string[] = [];
  private readonly curlDir: string | undefined;

  constructor(server: BenchServer, connections = 16) {
    this.origin = server.url;
    if (server.caPem) {
      this.curlDir = mkdtempSync(join(tmpdir(), 'regop-bench-curl-'));
      writeFileSync(join(this.curlDir, 'ca.pem'), server.caPem);
      this.curlArgs.push('--cacert', join(this.curlDir, 'ca.pem'));
    }
    if (server.mode === 'tls+auth') this.curlArgs.push('--user', `${BENCH_USER.name}:${BENCH_USER.password}`);
    this.pool = new Pool(server.url, {
      connections,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      // A 1 GiB body at loopback speed still takes seconds; undici's default timeouts would cut it off.
      bodyTimeout: 600_000,
      headersTimeout: 600_000,
      connect: server.caPem ? { ca: server.caPem } : {},
    });
    this.auth = server.mode === 'tls+auth'
      ? `Basic ${Buffer.from(`${BENCH_USER.name}:${BENCH_USER.password}`).toString('base64')}`
      : undefined;
  }

  /** Sends a request; `expect` lists the acceptable statuses, anything else throws with the exchange spelled out. */
  async send(method: string, path: string, options: {
    headers?: Record<string, string>;
    body?: Buffer | string | Readable;
    expect: number[];
    discard?: boolean;
  }): Promise<Reply> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.auth && !headers.authorization) headers.authorization = this.auth;
    const request: Dispatcher.RequestOptions = { path, method: method as Dispatcher.HttpMethod, headers };
    if (options.body !== undefined) request.body = options.body;
    const response = await this.pool.request(request);
    let body = Buffer.alloc(0);
    if (options.discard && options.expect.includes(response.statusCode)) {
      for await (const _ of response.body) { /* drain without keeping */ }
    } else {
      body = Buffer.from(await response.body.arrayBuffer());
    }
    const flat: Record<string, string> = {};
    for (const [key, value] of Object.entries(response.headers)) {
      if (value !== undefined) flat[key] = Array.isArray(value) ? value.join(', ') : value;
    }
    if (!options.expect.includes(response.statusCode)) {
      throw new RequestFailed(
        `${method} ${path} -> ${response.statusCode} (expected ${options.expect.join('/')}); ` +
        `request headers ${JSON.stringify(redact(headers))}; response headers ${JSON.stringify(flat)}; ` +
        `body ${JSON.stringify(body.subarray(0, 600).toString('utf8'))}`);
    }
    return { status: response.statusCode, headers: flat, body };
  }

  /** Turns a Location header (absolute or relative) into a path on this server. */
  pathOf(location: string | undefined): string {
    if (!location) throw new RequestFailed('response has no Location header');
    const url = new URL(location, this.origin);
    return url.pathname + url.search;
  }

  /** GET with curl, the body discarded: the transfer's seconds as curl timed them (no process start-up). */
  download(path: string, expectedBytes: number): Promise<number> {
    const args = ['--silent', '--show-error', '--output', '/dev/null', '--write-out', '%{http_code} %{size_download} %{time_total}',
      ...this.curlArgs, new URL(path, this.origin).href];
    return new Promise((resolve, reject) => {
      execFile('curl', args, { timeout: 600_000 }, (error, stdout, stderr) => {
        const [status, bytes, seconds] = stdout.trim().split(' ');
        if (error || status !== '200' || Number(bytes) !== expectedBytes) {
          reject(new RequestFailed(`curl GET ${path}: status ${status}, ${bytes}/${expectedBytes} bytes ${stderr.trim()} ${error?.message ?? ''}`));
        } else {
          resolve(Number(seconds));
        }
      });
    });
  }

  async close(): Promise<void> {
    await this.pool.close();
    if (this.curlDir) rmSync(this.curlDir, { recursive: true, force: true });
  }
}

function redact(headers: Record<string, string>): Record<string, string> {
  return headers.authorization ? { ...headers, authorization: '<redacted>' } : headers;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * A big body made of one random 1 MiB block repeated: cheap to generate, digest computed once per size. Variant
 * `v` changes the first block's first bytes, so repeated pushes are distinct blobs no server can short-cut.
 */
export class RepeatedBody {
  readonly block = randomBytes(MiB);
  private readonly digests = new Map<string, string>();

  private firstBlock(variant: number): Buffer {
    if (variant === 0) return this.block;
    const first = Buffer.from(this.block);
    first.writeUInt32BE(variant, 0);
    return first;
  }

  digest(mib: number, variant = 0): string {
    const key = `${mib}/${variant}`;
    let digest = this.digests.get(key);
    if (!digest) {
      const hash = createHash('sha256').update(this.firstBlock(variant));
      for (let i = 1; i < mib; i++) hash.update(this.block);
      digest = `sha256:${hash.digest('hex')}`;
      this.digests.set(key, digest);
    }
    return digest;
  }

  stream(mib: number, variant = 0): Readable {
    const first = this.firstBlock(variant);
    const block = this.block;
    return Readable.from((function* () {
      yield first;
      for (let i = 1; i < mib; i++) yield block;
    })(), { objectMode: false });
  }
}

/** Runs `count` jobs with at most `concurrency` in flight, stopping early at the deadline. Returns latencies (ms). */
export async function runConcurrent(count: number, concurrency: number, deadline: number,
  job: (i: number) => Promise<void>): Promise<{ latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  async function worker() {
    while (next < count && Date.now() < deadline) {
      const i = next++;
      const t0 = performance.now();
      await job(i);
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { latencies, elapsedMs: performance.now() - started };
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
