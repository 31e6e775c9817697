// Webhooks: each audit event an endpoint asked for is POSTed to it as a CloudEvent, from a bounded queue of its own
// with one sender, so a slow or dead receiver delays nothing but its own deliveries and holds at most `queueSize`
// events. Drops and failures are counted and logged at most once a minute per endpoint; a log line names the
// endpoint, never its URL (which may carry a token) nor a header value.
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { getCACertificates } from 'node:tls';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { undici } from '../http/undici.ts';
import type { WebhookEndpointConfig } from '../config.ts';
import { ConfigError } from '../config.ts';
import { CLOUDEVENTS_CONTENT_TYPE, toCloudEvent } from './cloudevent.ts';
import { DeliveryQueue, type AttemptOutcome } from './delivery-queue.ts';
import type { AuditEvent } from './event.ts';

/** The wait before a first retry, doubled for each next one up to the maximum. */
const INITIAL_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** dropped or failed deliveries are logged at most this often per endpoint, with the count since the last line */
const WARNING_INTERVAL_MS = 60_000;

/** what the webhooks count, by endpoint name (RegistryMetrics) */
export interface WebhookCounters {
  webhookDelivered(endpoint: string): void;
  webhookFailed(endpoint: string): void;
  webhookDropped(endpoint: string): void;
}

/** A warning that is written at most once an interval, saying how many times it happened since it was last written. */
class ThrottledWarning {
  private readonly logger: Logger;
  private readonly message: string;
  private lastAt = -Infinity;
  private pending = 0;

  constructor(logger: Logger, message: string) {
    this.logger = logger;
    this.message = message;
  }

  note(fields: Record<string, unknown> = {}): void {
    this.pending++;
    const now = Date.now();
    if (now - this.lastAt < WARNING_INTERVAL_MS) return;
    this.logger.warn({ ...fields, count: this.pending }, this.message);
    this.lastAt = now;
    this.pending = 0;
  }
}

/** Header values from files (Kubernetes Secrets mounted as files), read at each attempt so a rotated Secret applies. */
async function headerValues(files: Record<string, string>): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const [name, file] of Object.entries(files)) {
    const value = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    // a value with a line break would be refused by the HTTP client; say which file, never what it holds
    if (/[\r\n\0]/.test(value)) throw new Error(`header ${name}: ${file} holds more than one line`);
    values[name] = value;
  }
  return values;
}

/** A retryable status: the receiver may answer otherwise later. Other 4xx are the event's or the config's fault. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

class Endpoint {
  readonly name: string;
  readonly queue: DeliveryQueue<AuditEvent>;
  private readonly config: WebhookEndpointConfig;
  private readonly agent: Agent;
  private readonly source: string;

  constructor(config: WebhookEndpointConfig, source: string, counters: WebhookCounters, logger: Logger) {
    this.name = config.name;
    this.config = config;
    this.source = source;
    this.agent = new (undici().Agent)({
      keepAliveTimeout: 30_000,
      connect: {
        timeout: config.timeoutMs,
        // `ca` replaces the trusted set, so the extra CA joins the default one
        ...(config.caFile ? { ca: [...getCACertificates('default'), readFileSync(config.caFile, 'utf8')] } : {}),
      },
    });
    const log = logger.child({ endpoint: config.name });
    const dropped = new ThrottledWarning(log, 'webhook queue full: events dropped (regop_registry_webhook_dropped_total)');
    const failed = new ThrottledWarning(log, 'webhook deliveries failed after their retries (regop_registry_webhook_failed_total)');
    this.queue = new DeliveryQueue<AuditEvent>({
      capacity: config.queueSize,
      retries: config.retries,
      initialBackoffMs: INITIAL_BACKOFF_MS,
      maxBackoffMs: MAX_BACKOFF_MS,
      attempt: (event, signal) => this.post(event, signal),
      onDelivered: () => counters.webhookDelivered(this.name),
      onFailed: (event, reason) => {
        counters.webhookFailed(this.name);
        failed.note({ action: event.action, reason });
      },
      onDropped: () => {
        counters.webhookDropped(this.name);
        dropped.note({ queueSize: config.queueSize });
      },
    });
  }

  wants(event: AuditEvent): boolean {
    return this.config.events === null || this.config.events.includes(event.action);
  }

  private async post(event: AuditEvent, closing: AbortSignal): Promise<AttemptOutcome> {
    const headers = {
      ...this.config.headers,
      ...await headerValues(this.config.headerFiles),
      'content-type': CLOUDEVENTS_CONTENT_TYPE,
    };
    const signal = AbortSignal.any([closing, AbortSignal.timeout(this.config.timeoutMs)]);
    const response = await undici().request(this.config.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(toCloudEvent(event, this.source)),
      dispatcher: this.agent,
      signal,
    });
    const status = response.statusCode;
    // the body is not needed, but must be read for the connection to be reused; the status has decided already
    await response.body.dump({ limit: 64 * 1024, signal }).catch(() => undefined);
    if (status >= 200 && status < 300) return { outcome: 'delivered' };
    return { outcome: retryable(status) ? 'retry' : 'reject', reason: `answered ${status}` };
  }

  async close(timeoutMs: number): Promise<number> {
    const dropped = await this.queue.close(timeoutMs);
    await this.agent.close().catch(() => undefined);
    return dropped;
  }
}

export interface WebhookOptions {
  endpoints: WebhookEndpointConfig[];
  /** the CloudEvents `source` of every event */
  source: string;
  counters: WebhookCounters;
  logger: Logger;
}

export class Webhooks {
  private readonly endpoints: Endpoint[];
  private readonly logger: Logger;

  /** Reads each endpoint's CA and header files once, so a missing Secret stops the start instead of every delivery. */
  constructor(options: WebhookOptions) {
    this.logger = options.logger;
    for (const endpoint of options.endpoints) {
      for (const [header, file] of Object.entries(endpoint.headerFiles)) checkReadable(file, `notifications endpoint ${endpoint.name}: headerFiles.${header}`);
      if (endpoint.caFile) checkReadable(endpoint.caFile, `notifications endpoint ${endpoint.name}: caFile`);
    }
    this.endpoints = options.endpoints.map((endpoint) => new Endpoint(endpoint, options.source, options.counters, options.logger));
  }

  get names(): string[] {
    return this.endpoints.map((endpoint) => endpoint.name);
  }

  /** events waiting for, or in, delivery to the endpoint */
  queued(name: string): number {
    return this.endpoints.find((endpoint) => endpoint.name === name)?.queue.length ?? 0;
  }

  /** Queues the event for every endpoint that wants it; never waits. */
  write(event: AuditEvent): void {
    for (const endpoint of this.endpoints) if (endpoint.wants(event)) endpoint.queue.push(event);
  }

  /** Gives the queues up to `timeoutMs` to empty, all at once; what is left then is dropped (and counted). */
  async close(timeoutMs: number): Promise<void> {
    const dropped = await Promise.all(this.endpoints.map((endpoint) => endpoint.close(timeoutMs)));
    dropped.forEach((count, i) => {
      if (count > 0) this.logger.warn({ endpoint: this.endpoints[i]!.name, count }, 'webhook events not delivered before shutdown');
    });
  }
}

function checkReadable(file: string, what: string): void {
  try {
    readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${what}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
