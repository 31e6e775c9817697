// Prometheus metrics of the registry, in a registry of their own (not prom-client's global one) so tests and
// embedding never see each other's counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * 1 while the htpasswd or access file on disk failed to load and the previous users or rules are served (a revoked
 * user may still get in), 0 otherwise; label `file` is `htpasswd` or `access`. The operator alerts on it.
 */
export const AUTH_RELOAD_FAILED_METRIC = 'regop_registry_auth_reload_failed';
/** the store's size in bytes; the operator shows it as status.storageUsed */
export const STORAGE_BYTES_METRIC = 'regop_registry_storage_bytes';
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

  constructor() {
    collectDefaultMetrics({ register: this.registry });
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
