// A client that pulls one image over and over, each request on a new TLS connection verified against the
// Registry's CA (so a renewed certificate is seen, and a bad one fails), counting every request that did not
// return the expected bytes. A no-downtime promise is tested by running it across a change: zero failures.
import { createHash } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { basicAuth } from '../../support/http.ts';

export interface PullTarget {
  host: string;
  port: number;
  caPem: string;
  user: { name: string; password: string };
  repository: string;
  /** fetched alternately: the manifest by tag, then each blob by digest; the body's sha256 is checked */
  manifest: { tag: string; digest: string };
  blobs: string[];
}

export interface PullFailure { at: string; path: string; problem: string }

export interface PullAnswer { status: number; digest: string; certificate: string }

/** One GET on a fresh connection; the served certificate's SHA-256 fingerprint comes back with the answer. */
export function getOnce(target: Omit<PullTarget, 'manifest' | 'blobs' | 'repository'>, path: string, headers: Record<string, string> = {}, user = target.user): Promise<PullAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.host, port: target.port, path, method: 'GET', ca: target.caPem, agent: false, timeout: 10_000,
      headers: { authorization: basicAuth(user.name, user.password), ...headers },
    }, (response) => {
      const certificate = (response.socket as TLSSocket).getPeerCertificate().fingerprint256 ?? '';
      const hash = createHash('sha256');
      response.on('data', (chunk: Buffer) => hash.update(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, certificate }));
      response.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10s')));
    req.on('error', reject);
    req.end();
  });
}

export class PullLoop {
  requests = 0;
  readonly failures: PullFailure[] = [];
  /** served certificate fingerprints, in the order first seen */
  readonly certificates: string[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly target: PullTarget;

  constructor(target: PullTarget) {
    this.target = target;
  }

  start(concurrency = 2, pauseMs = 50): void {
    this.running = true;
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop(i, pauseMs));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  summary(): string {
    const failed = this.failures.slice(0, 20).map((f) => `  ${f.at} ${f.path}: ${f.problem}`).join('\n');
    return `${this.requests} requests, ${this.failures.length} failed, ${this.certificates.length} certificate(s) served${failed ? `\n${failed}` : ''}`;
  }

  private async loop(offset: number, pauseMs: number): Promise<void> {
    const { repository, manifest, blobs } = this.target;
    const paths = [
      { path: `/v2/${repository}/manifests/${manifest.tag}`, digest: manifest.digest },
      ...blobs.map((digest) => ({ path: `/v2/${repository}/blobs/${digest}`, digest })),
    ];
    for (let i = offset; this.running; i++) {
      const { path, digest } = paths[i % paths.length]!;
      this.requests++;
      try {
        const answer = await getOnce(this.target, path, { accept: 'application/vnd.oci.image.manifest.v1+json' });
        if (!this.certificates.includes(answer.certificate)) this.certificates.push(answer.certificate);
        if (answer.status !== 200) this.fail(path, `HTTP ${answer.status}`);
        else if (answer.digest !== digest) this.fail(path, `body is ${answer.digest}, expected ${digest}`);
      } catch (error) {
        this.fail(path, (error as Error).message);
      }
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }

  private fail(path: string, problem: string): void {
    this.failures.push({ at: new Date().toISOString(), path, problem });
  }
}
