// A supervised informer. client-node's informer stops for good on some watch errors, so this one restarts it
// with jittered exponential backoff (1 s doubling to 30 s, back to 1 s after two minutes without a failure: a
// watch that fails right after each list must not relist every second), relists now and then (resync: every cached object is
// reported again, so level-triggered reconciles re-run), and restarts a watch that has been silent too long.
//
// hasSynced() is true only while the current informer's cache holds its first list. client-node is no help here:
// ListWatch emits 'connect' before it lists, and its start() resolves even when the list failed (it only emits
// 'error'). So the list function it is given is wrapped, and the first list that resolves marks the cache synced.
import { makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ListPromise, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorMetrics } from './metrics.ts';
import { realClock, type Clock } from './work-queue.ts';

export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** watch path, e.g. /apis/regop.dev/v1alpha1/registries */
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  /** a name for logs and metrics */
  resource: string;
  logger: Logger;
  metrics?: OperatorMetrics;
  /** called for every add, update, delete and resync: enqueue keys here, nothing more */
  onChange(object: T, event: 'add' | 'update' | 'delete' | 'resync'): void;
  resyncMs?: number;
  watchdogMs?: number;
  /** for tests */
  clock?: Clock;
  /** for tests: the jitter, in [0, 1) */
  random?: () => number;
  /** for tests */
  makeInformer?: (kubeConfig: KubeConfig, path: string, list: ListPromise<T>, labelSelector?: string) => Informer<T> & ObjectCache<T>;
}

const MIN_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
/** a failure this long after the one before starts the backoff again from MIN_BACKOFF_MS */
const BACKOFF_RESET_MS = 2 * 60_000;
/** how long stop() waits for a start under way to close the watch it opens */
const STOP_WAIT_MS = 5_000;

export class SupervisedInformer<T extends KubernetesObject> {
  private informer: (Informer<T> & ObjectCache<T>) | undefined;
  private readonly options: InformerOptions<T>;
  private synced = false;
  private stopped = false;
  private failures = 0;
  private lastFailure = -Infinity;
  private readonly clock: Clock;
  private lastSeen: number;
  private readonly timers: Array<{ cancel(): void }> = [];
  private restartTimer: { cancel(): void } | undefined;
  /** the current informer's start (its list, then its watch request), while under way */
  private starting: Promise<void> | undefined;

  constructor(options: InformerOptions<T>) {
    this.options = options;
    this.clock = options.clock ?? realClock;
    this.lastSeen = this.clock.now();
  }

  /** its name in logs and metrics */
  get resource(): string {
    return this.options.resource;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** the cached objects (of one namespace, when given); empty until the first list */
  list(namespace?: string): readonly T[] {
    return this.informer?.list(namespace) ?? [];
  }

  /** one cached object */
  get(name: string, namespace?: string): T | undefined {
    return this.informer?.get(name, namespace);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.every(this.options.resyncMs ?? 10 * 60_000, () => this.resync());
    const watchdogMs = this.options.watchdogMs ?? 15 * 60_000;
    this.every(Math.min(watchdogMs, 60_000), () => {
      if (this.clock.now() - this.lastSeen > watchdogMs) {
        this.options.logger.warn({ resource: this.options.resource }, 'watch silent for too long; restarting it');
        void this.restart();
      }
    });
    await this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.splice(0)) timer.cancel();
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    await this.informer?.stop().catch(() => undefined);
    // a start under way opens its watch after its list, whatever stop said meanwhile (client-node checks only
    // before listing); run() closes it then: wait for that, for a while, so nothing is left open after stop
    if (this.starting) {
      let timeout: { cancel(): void } | undefined;
      await Promise.race([this.starting, new Promise<void>((resolve) => { timeout = this.clock.setTimeout(resolve, STOP_WAIT_MS); })]);
      timeout?.cancel();
    }
  }

  /** calls fn every periodMs until stop */
  private every(periodMs: number, fn: () => void): void {
    const slot = this.timers.length;
    const arm = () => {
      this.timers[slot] = this.clock.setTimeout(() => {
        if (this.stopped) return;
        arm();
        fn();
      }, periodMs);
    };
    arm();
  }

  private seen(): void {
    this.lastSeen = this.clock.now();
  }

  private async run(): Promise<void> {
    const { kubeConfig, path, labelSelector, onChange } = this.options;
    const create = this.options.makeInformer ?? makeInformer;
    // a new informer starts with an empty cache, whatever the one before it held
    this.synced = false;
    const informer = create(kubeConfig, path, () => this.listInto(informer), labelSelector);
    this.informer = informer;
    informer.on('add', (object) => { this.seen(); onChange(object, 'add'); });
    informer.on('update', (object) => { this.seen(); onChange(object, 'update'); });
    informer.on('delete', (object) => { this.seen(); onChange(object, 'delete'); });
    // 'connect' comes before the list, so it proves the watch is alive but not that the cache is filled
    informer.on('connect', () => this.seen());
    informer.on('error', (error) => {
      if (this.stopped || informer !== this.informer) return;
      this.options.logger.warn({ resource: this.options.resource, reason: (error as Error)?.message ?? String(error) }, 'watch failed; restarting');
      this.scheduleRestart();
    });
    const starting = informer.start();
    const settled = starting.then(() => undefined, () => undefined);
    this.starting = settled;
    try {
      await starting;
      if (this.stopped || informer !== this.informer) {
        // stopped or replaced while it listed: the watch it has just opened must not outlive it
        await informer.stop().catch(() => undefined);
        return;
      }
      this.seen();
    } catch (error) {
      if (this.stopped || informer !== this.informer) return;
      this.options.logger.warn({ resource: this.options.resource, reason: (error as Error).message }, 'initial list failed; retrying');
      this.scheduleRestart();
    } finally {
      if (this.starting === settled) this.starting = undefined;
    }
  }

  private async listInto(informer: Informer<T> & ObjectCache<T>): Promise<KubernetesListObject<T>> {
    const result = await this.options.list();
    // ListWatch puts the listed items in its cache as soon as this promise settles, before it opens the watch
    // (which needs I/O); setImmediate runs after that, so the cache holds the whole list when synced turns true.
    setImmediate(() => {
      if (this.stopped || informer !== this.informer) return;
      this.seen();
      this.synced = true;
    });
    return result;
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    const now = this.clock.now();
    if (now - this.lastFailure > BACKOFF_RESET_MS) this.failures = 0;
    this.lastFailure = now;
    const base = Math.min(MIN_BACKOFF_MS * 2 ** this.failures, MAX_BACKOFF_MS);
    this.failures++;
    const delay = base / 2 + (this.options.random ?? Math.random)() * (base / 2);
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart();
    }, delay);
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
    // the watchdog may restart while a restart after an error is pending: one restart is enough
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    this.options.metrics?.informerRestarts.inc({ resource: this.options.resource });
    const previous = this.informer;
    this.informer = undefined;
    this.synced = false;
    await previous?.stop().catch(() => undefined);
    this.seen();
    await this.run();
  }

  private resync(): void {
    for (const object of this.list()) this.options.onChange(object, 'resync');
  }
}

/** `namespace/name`, the work-queue key of a namespaced object */
export function keyOf(object: KubernetesObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

/** The key of the object that owns this one by label (`namespace/<label value>`), if it carries the label. */
export function ownerKeyOf(object: KubernetesObject, label: string): string | undefined {
  const owner = object.metadata?.labels?.[label];
  return owner && object.metadata?.namespace ? `${object.metadata.namespace}/${owner}` : undefined;
}

/** Builds informers that share one kube config, logger and metrics, as an entry point's informers do. */
export function informerFactory(shared: Pick<InformerOptions<KubernetesObject>, 'kubeConfig' | 'logger' | 'metrics'>) {
  // client-node's list calls are typed per resource (and `any` for custom objects); the informer checks nothing more
  return <T extends KubernetesObject>(resource: string, path: string, list: () => Promise<any>, onChange: InformerOptions<T>['onChange'],
    labelSelector?: string): SupervisedInformer<T> =>
    new SupervisedInformer<T>({ ...shared, path, list, resource, onChange, ...(labelSelector ? { labelSelector } : {}) });
}
