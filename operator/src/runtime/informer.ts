// A supervised informer. client-node's informer stops for good on some watch errors, so this one restarts it
// with jittered exponential backoff (1 s doubling to 30 s), relists now and then (resync: every cached object is
// reported again, so level-triggered reconciles re-run), and restarts a watch that has been silent too long.
//
// hasSynced() is true only while the current informer's cache holds its first list. client-node is no help here:
// ListWatch emits 'connect' before it lists, and its start() resolves even when the list failed (it only emits
// 'error'). So the list function it is given is wrapped, and the first list that resolves marks the cache synced.
import { makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ListPromise, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorMetrics } from './metrics.ts';

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
  makeInformer?: (kubeConfig: KubeConfig, path: string, list: ListPromise<T>, labelSelector?: string) => Informer<T> & ObjectCache<T>;
}

const MIN_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;

export class SupervisedInformer<T extends KubernetesObject> {
  private informer: (Informer<T> & ObjectCache<T>) | undefined;
  private readonly options: InformerOptions<T>;
  private synced = false;
  private stopped = false;
  private failures = 0;
  private lastSeen = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(options: InformerOptions<T>) {
    this.options = options;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  list(): readonly T[] {
    return this.informer?.list() ?? [];
  }

  async start(): Promise<void> {
    this.stopped = false;
    const resync = setInterval(() => this.resync(), this.options.resyncMs ?? 10 * 60_000);
    const watchdogMs = this.options.watchdogMs ?? 15 * 60_000;
    const watchdog = setInterval(() => {
      if (Date.now() - this.lastSeen > watchdogMs) {
        this.options.logger.warn({ resource: this.options.resource }, 'watch silent for too long; restarting it');
        void this.restart();
      }
    }, Math.min(watchdogMs, 60_000));
    for (const timer of [resync, watchdog]) {
      timer.unref();
      this.timers.push(timer);
    }
    await this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    clearTimeout(this.restartTimer);
    await this.informer?.stop().catch(() => undefined);
  }

  private seen(): void {
    this.lastSeen = Date.now();
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
    try {
      await informer.start();
      this.seen();
    } catch (error) {
      this.options.logger.warn({ resource: this.options.resource, reason: (error as Error).message }, 'initial list failed; retrying');
      this.scheduleRestart();
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
      this.failures = 0;
    });
    return result;
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    const base = Math.min(MIN_BACKOFF_MS * 2 ** this.failures, MAX_BACKOFF_MS);
    this.failures++;
    const delay = base / 2 + Math.random() * (base / 2);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart();
    }, delay);
    this.restartTimer.unref();
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
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
  return <T extends KubernetesObject>(resource: string, path: string, list: () => Promise<any>, onChange: (object: T) => void,
    labelSelector?: string): SupervisedInformer<T> =>
    new SupervisedInformer<T>({ ...shared, path, list, resource, onChange, ...(labelSelector ? { labelSelector } : {}) });
}
