// Prometheus metrics of the registry, in a registry of their own (not prom-client's global one) so tests and
// embedding never see each other's counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
// the names the operator reads are the contract's
import {
  AUTH_RELOAD_FAILED_METRIC, MIRROR_CACHED_BYTES_METRIC, MIRROR_HITS_METRIC, MIRROR_MISSES_METRIC, STORAGE_BYTES_METRIC,
} from '../contract/metrics.ts';

/** audit events a webhook endpoint accepted (2xx), label `endpoint` */
export const WEBHOOK_DELIVERED_METRIC = 'regop_registry_webhook_delivered_total';
/** audit events a webhook endpoint did not accept after their retries (or refused with a 4xx), label `endpoint` */
export const WEBHOOK_FAILED_METRIC = 'regop_registry_webhook_failed_total';
/** audit events not queued for a webhook endpoint because its queue was full (or the registry was stopping) */
export const WEBHOOK_DROPPED_METRIC = 'regop_registry_webhook_dropped_total';
/** audit events waiting for, or in, delivery to a webhook endpoint; at most its queueSize plus one */
export const WEBHOOK_QUEUED_METRIC = 'regop_registry_webhook_queued';
const AUTH_FILES = ['htpasswd', 'access'] as const;
export type AuthFile = (typeof AUTH_FILES)[number];

export class RegistryMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'regop_registry_http_requests_total',
    help: 'HTTP requests by route group, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  private readonly durations = new Histogram({
    name: 'regop_registry_http_request_duration_seconds',
    help: 'HTTP request durations by route group and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  });
  private readonly received = new Counter({
    name: 'regop_registry_bytes_received_total',
    help: 'Bytes of blobs and manifests received',
    registers: [this.registry],
  });
  private readonly sent = new Counter({
    name: 'regop_registry_bytes_sent_total',
    help: 'Bytes of blobs and manifests sent',
    registers: [this.registry],
  });
  private readonly uploads = new Histogram({
    name: 'regop_registry_upload_duration_seconds',
    help: 'Time from the start of a blob upload session to its completion',
    buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
    registers: [this.registry],
  });

  private readonly mirrorHits = new Counter({
    name: MIRROR_HITS_METRIC,
    help: 'Manifests and blobs of a mirror served from the cache without fetching them (revalidated tags included)',
    labelNames: ['mirror'] as const,
    registers: [this.registry],
  });
  private readonly mirrorMisses = new Counter({
    name: MIRROR_MISSES_METRIC,
    help: 'Manifests and blobs of a mirror fetched from its upstream because they were not cached (or a tag had moved)',
    labelNames: ['mirror'] as const,
    registers: [this.registry],
  });
  private readonly mirrorUpstreamRequests = new Counter({
    name: 'regop_registry_mirror_upstream_requests_total',
    help: 'HTTP exchanges with a mirror\'s upstream by kind (manifest-head, manifest, blob, token) and status (or failure)',
    labelNames: ['mirror', 'kind', 'status'] as const,
    registers: [this.registry],
  });
  private readonly mirrorUpstreamBytes = new Counter({
    name: 'regop_registry_mirror_upstream_bytes_total',
    help: 'Bytes of manifests and blobs received from a mirror\'s upstream',
    labelNames: ['mirror'] as const,
    registers: [this.registry],
  });
  private readonly mirrorServedBytes = new Counter({
    name: 'regop_registry_mirror_served_bytes_total',
    help: 'Bytes of manifests and blobs of a mirror sent to clients',
    labelNames: ['mirror'] as const,
    registers: [this.registry],
  });
  private readonly mirrorEvictions = new Counter({
    name: 'regop_registry_mirror_evictions_total',
    help: 'Manifests a mirror evicted to stay under its maxSize',
    labelNames: ['mirror'] as const,
    registers: [this.registry],
  });
  private readonly mirrorStaleServed = new Counter({
    name: 'regop_registry_mirror_stale_served_total',
    help: 'Tags a mirror served from its cache without revalidating them because the upstream failed',
    labelNames: ['mirror'] as const,
    registers: [this.registry],
  });

  private readonly webhookDeliveries = new Counter({
    name: WEBHOOK_DELIVERED_METRIC,
    help: 'Audit events delivered to a webhook endpoint',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });
  private readonly webhookFailures = new Counter({
    name: WEBHOOK_FAILED_METRIC,
    help: 'Audit events a webhook endpoint did not accept after the retries',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });
  private readonly webhookDrops = new Counter({
    name: WEBHOOK_DROPPED_METRIC,
    help: 'Audit events dropped because the webhook endpoint\'s queue was full',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** exports each webhook endpoint's counters from zero, and its queue length (read when scraped) */
  trackWebhooks(endpoints: readonly string[], queued: (endpoint: string) => number): void {
    for (const endpoint of endpoints) {
      for (const counter of [this.webhookDeliveries, this.webhookFailures, this.webhookDrops]) counter.inc({ endpoint }, 0);
    }
    new Gauge({
      name: WEBHOOK_QUEUED_METRIC,
      help: 'Audit events waiting for, or in, delivery to a webhook endpoint',
      labelNames: ['endpoint'] as const,
      registers: [this.registry],
      collect() {
        for (const endpoint of endpoints) this.set({ endpoint }, queued(endpoint));
      },
    });
  }

  webhookDelivered(endpoint: string): void {
    this.webhookDeliveries.inc({ endpoint });
  }

  webhookFailed(endpoint: string): void {
    this.webhookFailures.inc({ endpoint });
  }

  webhookDropped(endpoint: string): void {
    this.webhookDrops.inc({ endpoint });
  }

  /** exports the store's size, read when scraped; the operator shows it as status.storageUsed */
  trackStorage(bytesStored: () => number | null): void {
    new Gauge({
      name: STORAGE_BYTES_METRIC,
      help: 'Bytes of all stored blobs (layers, configs and manifests)',
      registers: [this.registry],
      collect() {
        const bytes = bytesStored();
        if (bytes !== null) this.set(bytes);
      },
    });
  }

  /** exports which auth files are stale, read when scraped */
  trackAuthReloads(failedFiles: () => ReadonlyArray<AuthFile>): void {
    new Gauge({
      name: AUTH_RELOAD_FAILED_METRIC,
      help: 'Whether the auth file on disk failed to load, so its previous version is served (1) or not (0)',
      labelNames: ['file'] as const,
      registers: [this.registry],
      collect() {
        const failed = failedFiles();
        for (const file of AUTH_FILES) this.set({ file }, failed.includes(file) ? 1 : 0);
      },
    });
  }

  /** exports each mirror's counters from zero, and its cached bytes as last measured (read when scraped) */
  trackMirrors(names: readonly string[], cachedBytes: (mirror: string) => number | null): void {
    for (const mirror of names) {
      for (const counter of [this.mirrorHits, this.mirrorMisses, this.mirrorUpstreamBytes, this.mirrorServedBytes, this.mirrorEvictions, this.mirrorStaleServed]) {
        counter.inc({ mirror }, 0);
      }
    }
    new Gauge({
      name: MIRROR_CACHED_BYTES_METRIC,
      help: 'Bytes of the blobs and manifests a mirror\'s repositories hold',
      labelNames: ['mirror'] as const,
      registers: [this.registry],
      collect() {
        for (const mirror of names) {
          const bytes = cachedBytes(mirror);
          if (bytes !== null) this.set({ mirror }, bytes);
        }
      },
    });
  }

  mirrorServed(mirror: string, outcome: 'hit' | 'miss'): void {
    (outcome === 'hit' ? this.mirrorHits : this.mirrorMisses).inc({ mirror });
  }

  mirrorUpstreamRequest(mirror: string, kind: string, status: number | string): void {
    this.mirrorUpstreamRequests.inc({ mirror, kind, status: String(status) });
  }

  mirrorBytesFromUpstream(mirror: string, bytes: number): void {
    if (bytes > 0) this.mirrorUpstreamBytes.inc({ mirror }, bytes);
  }

  mirrorBytesServed(mirror: string, bytes: number): void {
    if (bytes > 0) this.mirrorServedBytes.inc({ mirror }, bytes);
  }

  mirrorEvicted(mirror: string, manifests: number): void {
    if (manifests > 0) this.mirrorEvictions.inc({ mirror }, manifests);
  }

  mirrorStale(mirror: string): void {
    this.mirrorStaleServed.inc({ mirror });
  }

  requestFinished(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.durations.observe({ route, method }, seconds);
  }

  bytesReceived(bytes: number): void {
    if (bytes > 0) this.received.inc(bytes);
  }

  bytesSent(bytes: number): void {
    if (bytes > 0) this.sent.inc(bytes);
  }

  uploadCompleted(bytes: number, milliseconds: number): void {
    this.received.inc(bytes);
    this.uploads.observe(milliseconds / 1000);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
