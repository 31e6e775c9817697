// The generic reconcile loop every controller plugs into, after controller-runtime: watch callbacks only
// enqueue keys; workers take keys off a rate-limited queue and call reconcile(key). An error requeues with
// per-key backoff, success forgets the key's failures, `requeueAfterMs` schedules the next pass, and a
// TerminalError is logged and not retried.
import type { Logger } from 'pino';
import type { OperatorMetrics } from './metrics.ts';
import { WorkQueue, type Clock, type RateLimits, realClock } from './work-queue.ts';

export type ReconcileResult = void | { requeueAfterMs: number };

export class TerminalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TerminalError';
  }
}

export interface ControllerOptions {
  name: string;
  reconcile(key: string): Promise<ReconcileResult>;
  logger: Logger;
  workers?: number;
  metrics?: OperatorMetrics;
  rateLimits?: Partial<RateLimits>;
  clock?: Clock;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly options: ControllerOptions;
  private running: Promise<void>[] = [];

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.options = options;
    this.queue = new WorkQueue(options.rateLimits, options.clock ?? realClock);
  }

  enqueue(key: string): void {
    this.queue.add(key);
    this.options.metrics?.queueDepth.set({ controller: this.name }, this.queue.length);
  }

  start(): void {
    const workers = this.options.workers ?? 1;
    for (let i = 0; i < workers; i++) this.running.push(this.work());
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.running);
    this.running = [];
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.options.metrics?.queueDepth.set({ controller: this.name }, this.queue.length);
      try {
        await this.processKey(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** one reconcile of one key, with the queue bookkeeping its outcome calls for */
  async processKey(key: string): Promise<void> {
    const { logger, metrics } = this.options;
    const started = process.hrtime.bigint();
    let result = 'success';
    try {
      const outcome = await this.options.reconcile(key);
      this.queue.forget(key);
      if (outcome && outcome.requeueAfterMs > 0) {
        result = 'requeue';
        this.queue.addAfter(key, outcome.requeueAfterMs);
      }
    } catch (error) {
      if (error instanceof TerminalError) {
        result = 'terminal';
        this.queue.forget(key);
        logger.error({ controller: this.name, key, reason: error.message }, 'reconcile failed permanently');
      } else {
        result = 'error';
        const delay = this.queue.addRateLimited(key);
        logger.warn({ controller: this.name, key, reason: (error as Error).message, retryInMs: Math.round(delay) }, 'reconcile failed; retrying');
      }
    } finally {
      metrics?.reconciles.inc({ controller: this.name, result });
      metrics?.durations.observe({ controller: this.name }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }
}
