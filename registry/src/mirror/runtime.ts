// The mirrors of a registry process: an upstream client per configured mirror (credentials and CA read from their
// files), the service the routes call, and the eviction runs that keep each mirror under its maxSize (after new
// content was stored, and now and then, since pulls change what is least recently pulled).
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type MirrorConfig } from '../config.ts';
import { MirrorEviction } from './eviction.ts';
import { MirrorService, type Mirror, type MirrorStores, type Upstream } from './service.ts';
import { UpstreamClient, type UpstreamOptions } from './upstream.ts';

/** how often each mirror is measured (the cached-bytes metric) and checked against its maxSize */
const EVICTION_INTERVAL_MS = 60_000;
/** an eviction run follows new content after this pause, so a pull's many blobs cause one run */
const EVICTION_DEBOUNCE_MS = 1_000;
/** a run that had to leave recently pulled manifests is repeated after this pause */
const EVICTION_RETRY_MS = 5_000;

export interface MirrorRuntime {
  service: MirrorService;
  eviction: MirrorEviction;
  close(): Promise<void>;
}

/** {username, password} from a YAML or JSON file (a mounted Secret); never logged. */
export function readCredentialsFile(file: string): { username: string; password: string } {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read mirror credentials file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'not YAML or JSON'}`);
  }
  const { username, password } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof username !== 'string' || !username || typeof password !== 'string') {
    throw new ConfigError(`mirror credentials file ${file} must hold {username, password}`);
  }
  return { username, password };
}

function readCaFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read mirror CA file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

export type UpstreamFactory = (options: UpstreamOptions, logger: Logger) => Upstream & { close?(): Promise<void> };

export function startMirrors(
  configs: readonly MirrorConfig[], stores: MirrorStores, logger: Logger,
  createUpstream: UpstreamFactory = (options, log) => new UpstreamClient(options, log),
): MirrorRuntime {
  const log = logger.child({ component: 'mirror' });
  const upstreams: Array<Upstream & { close?(): Promise<void> }> = [];
  const mirrors: Mirror[] = configs.map((config) => {
    const upstream = createUpstream({
      url: config.upstream,
      ...(config.credentialsFile ? { credentials: readCredentialsFile(config.credentialsFile) } : {}),
      ...(config.caFile ? { caPem: readCaFile(config.caFile) } : {}),
      timeoutMs: config.timeoutMs,
      onResponse: (kind, outcome) => stores.metrics.mirrorUpstreamRequest(config.name, kind, outcome),
    }, log);
    upstreams.push(upstream);
    return {
      name: config.name, upstreamUrl: config.upstream, upstream, tagTtlMs: config.tagTtlMs,
      ...(config.maxSizeBytes !== undefined ? { maxSizeBytes: config.maxSizeBytes } : {}),
    };
  });
  const service = new MirrorService(mirrors, stores, log);
  const eviction = new MirrorEviction(stores, log);
  stores.metrics.trackMirrors(mirrors.map((mirror) => mirror.name), (name) => eviction.cachedBytes(name));

  // one run at a time per mirror; a request for another while one runs is remembered and served after it
  const running = new Map<string, Promise<void>>();
  const pending = new Map<string, NodeJS.Timeout>();
  let closed = false;
  const evict = (mirror: Mirror, delayMs: number) => {
    if (closed || pending.has(mirror.name)) return;
    const timer = setTimeout(() => {
      pending.delete(mirror.name);
      const previous = running.get(mirror.name) ?? Promise.resolve();
      const run = previous.then(async () => {
        const result = await eviction.run(mirror.name, mirror.maxSizeBytes);
        if (result === null || result.deferred > 0) evict(mirror, EVICTION_RETRY_MS);
      }).catch((error: unknown) => log.error({ err: error, mirror: mirror.name }, 'mirror eviction failed'))
        .finally(() => {
          if (running.get(mirror.name) === run) running.delete(mirror.name);
        });
      running.set(mirror.name, run);
    }, delayMs);
    timer.unref();
    pending.set(mirror.name, timer);
  };
  service.onStored = (mirror) => evict(mirror, EVICTION_DEBOUNCE_MS);
  for (const mirror of mirrors) evict(mirror, 0);
  const interval = mirrors.length === 0 ? undefined : setInterval(() => {
    for (const mirror of mirrors) evict(mirror, 0);
  }, EVICTION_INTERVAL_MS);
  interval?.unref();

  return {
    service,
    eviction,
    async close() {
      closed = true;
      clearInterval(interval);
      for (const timer of pending.values()) clearTimeout(timer);
      await Promise.all(running.values());
      await Promise.all(upstreams.map((upstream) => upstream.close?.()));
    },
  };
}
