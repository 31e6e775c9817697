import { strict as assert } from 'node:assert';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import pino from 'pino';
import { FakeClock, settle } from './fake-clock.ts';
import { SupervisedInformer } from './informer.ts';
import { OperatorMetrics } from './metrics.ts';

// client-node's real ListWatch runs against a watch endpoint on loopback; only the list function is a fake, so the
// test decides when a list lands and whether it fails.

interface PendingList {
  resolve(items: KubernetesObject[]): void;
  reject(error: Error): void;
}


function registry(name: string): KubernetesObject {
  return { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { namespace: 'team', name, resourceVersion: '1' } };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('SupervisedInformer.hasSynced', () => {
  let server: Server;
  let kubeConfig: KubeConfig;
  // each informer watches its own path, so a late watch of one test cannot be taken for another test's
  const failingPaths = new Set<string>();
  const failedWatches = new Map<string, number>();
  let informers = 0;
  const openWatches: ServerResponse[] = [];
  /** watches the client has not closed, by path */
  const liveWatches = new Map<string, number>();

  before(async () => {
    server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (url.searchParams.get('watch') !== 'true') {
        response.writeHead(404).end();
      } else if (failingPaths.has(url.pathname)) {
        failedWatches.set(url.pathname, (failedWatches.get(url.pathname) ?? 0) + 1);
        response.writeHead(500).end();
      } else {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.flushHeaders();
        openWatches.push(response);
        liveWatches.set(url.pathname, (liveWatches.get(url.pathname) ?? 0) + 1);
        response.on('close', () => liveWatches.set(url.pathname, liveWatches.get(url.pathname)! - 1));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'test', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'test' }],
      contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
      currentContext: 'test',
    });
  });

  after(async () => {
    for (const response of openWatches) response.end();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** an informer whose lists stay pending until the test settles them */
  function makeInformer(): { informer: SupervisedInformer<KubernetesObject>; path: string; lists: PendingList[]; syncedEmpty: () => boolean; stop: () => Promise<void> } {
    const path = `/apis/regop.dev/v1alpha1/namespaces/test-${++informers}/registries`;
    const lists: PendingList[] = [];
    const informer = new SupervisedInformer<KubernetesObject>({
      kubeConfig,
      path,
      resource: 'registries',
      logger: pino({ level: 'silent' }),
      onChange: () => undefined,
      list: () =>
        new Promise<KubernetesListObject<KubernetesObject>>((resolve, reject) => {
          lists.push({ resolve: (items) => resolve({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '1' }, items }), reject });
        }),
    });
    // what a reader of the cache would be misled by: synced, yet the Registries it was listed with are not there
    let sawSyncedWithoutItems = false;
    const probe = setInterval(() => {
      if (informer.hasSynced() && informer.list().length === 0) sawSyncedWithoutItems = true;
    }, 1);
    const stop = async (): Promise<void> => {
      clearInterval(probe);
      await informer.stop();
    };
    return { informer, path, lists, syncedEmpty: () => sawSyncedWithoutItems, stop };
  }

  it('stays false until the first list is in the cache, though the informer has already connected', async () => {
    const { informer, lists, syncedEmpty, stop } = makeInformer();
    try {
      void informer.start();
      await until(() => lists.length === 1, 'the first list request');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(informer.hasSynced(), false, 'synced before the list returned');

      lists[0]!.resolve([registry('alpha'), registry('beta')]);
      await until(() => informer.hasSynced(), 'hasSynced');
      assert.deepEqual(informer.list().map((o) => o.metadata?.name).sort(), ['alpha', 'beta']);
      assert.equal(syncedEmpty(), false, 'hasSynced() was true while the cache was empty');
    } finally {
      await stop();
    }
  });

  it('leaves no watch open when stopped while its first list was under way', async () => {
    const { informer, path, lists, stop } = makeInformer();
    void informer.start();
    await until(() => lists.length === 1, 'the first list request');
    const stopped = stop();
    lists[0]!.resolve([registry('alpha')]);
    await stopped;
    // client-node opens the watch once its list lands, though it was told to stop while listing
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(liveWatches.get(path) ?? 0, 0, 'a watch outlived stop()');
    assert.equal(informer.hasSynced(), false, 'a stopped informer reported synced');
  });

  it('stays false when the first list fails, and turns true once a retried list lands', async () => {
    const { informer, lists, syncedEmpty, stop } = makeInformer();
    try {
      void informer.start();
      await until(() => lists.length === 1, 'the first list request');
      lists[0]!.reject(new Error('the API server is not answering'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(informer.hasSynced(), false, 'synced after a failed list');

      // the supervisor retries after its backoff (0.5–1 s for a first failure)
      await until(() => lists.length === 2, 'the retried list request');
      assert.equal(informer.hasSynced(), false);
      lists[1]!.resolve([registry('alpha')]);
      await until(() => informer.hasSynced(), 'hasSynced after the retry');
      assert.deepEqual(informer.list().map((o) => o.metadata?.name), ['alpha']);
      assert.equal(syncedEmpty(), false, 'hasSynced() was true while the cache was empty');
    } finally {
      await stop();
    }
  });

  it('turns false while a restarted informer relists, and true again once its list is in the cache', async () => {
    const { informer, path, lists, syncedEmpty, stop } = makeInformer();
    try {
      failingPaths.add(path);
      void informer.start();
      await until(() => lists.length === 1, 'the first list request');
      lists[0]!.resolve([registry('alpha')]);
      await until(() => informer.hasSynced(), 'the first sync');
      await until(() => failedWatches.get(path) === 1, 'the failed watch');
      failingPaths.delete(path);

      // the failed watch makes the supervisor replace the informer; the new one starts with an empty cache
      await until(() => lists.length === 2, 'the relist after the restart');
      assert.equal(informer.hasSynced(), false, 'synced while the restarted informer has not listed yet');
      assert.deepEqual(informer.list(), []);

      lists[1]!.resolve([registry('alpha'), registry('gamma')]);
      await until(() => informer.hasSynced(), 'hasSynced after the restart');
      assert.deepEqual(informer.list().map((o) => o.metadata?.name).sort(), ['alpha', 'gamma']);
      assert.equal(syncedEmpty(), false, 'hasSynced() was true while the cache was empty');
    } finally {
      await stop();
    }
  });
});

/**
 * A stand-in for client-node's informer, for what the supervisor does over time (on a fake clock): it lists
 * through the function it is given when started, and the test makes its watch fail or see events.
 */
class FakeInformer {
  readonly handlers = new Map<string, Array<(arg: unknown) => void>>();
  items: KubernetesObject[] = [];
  stopped = false;
  private readonly listFn: () => Promise<KubernetesListObject<KubernetesObject>>;

  constructor(listFn: () => Promise<KubernetesListObject<KubernetesObject>>) {
    this.listFn = listFn;
  }

  on(event: string, handler: (arg: unknown) => void): void {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), handler]);
  }

  off(): void {}

  emit(event: string, arg?: unknown): void {
    for (const handler of this.handlers.get(event) ?? []) handler(arg);
  }

  async start(): Promise<void> {
    this.emit('connect');
    const list = await this.listFn();
    this.items = list.items;
    for (const item of this.items) this.emit('add', item);
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }

  list(): KubernetesObject[] {
    return this.items;
  }

  get(): undefined {
    return undefined;
  }
}

describe('SupervisedInformer over time (fake clock)', () => {
  function supervised(options: { resyncMs?: number; watchdogMs?: number; random?: () => number } = {}) {
    const clock = new FakeClock();
    const metrics = new OperatorMetrics();
    const made: FakeInformer[] = [];
    const changes: string[] = [];
    let lists = 0;
    const informer = new SupervisedInformer<KubernetesObject>({
      kubeConfig: new KubeConfig(), path: '/apis/regop.dev/v1alpha1/registries', resource: 'registries',
      logger: pino({ level: 'silent' }), metrics, clock, random: options.random ?? (() => 0), ...options,
      onChange: (object, event) => changes.push(`${event} ${object.metadata?.name}`),
      list: async () => {
        lists++;
        return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '1' }, items: [registry('alpha'), registry('beta')] };
      },
      makeInformer: (_config, _path, list) => {
        const fake = new FakeInformer(list as () => Promise<KubernetesListObject<KubernetesObject>>);
        made.push(fake);
        return fake as never;
      },
    });
    const restarts = async () => (await metrics.informerRestarts.get()).values[0]?.value ?? 0;
    return { clock, informer, made, changes, lists: () => lists, restarts, current: () => made.at(-1)! };
  }

  it('resync reports every cached object again each resync period, and only then', async () => {
    const { clock, informer, changes } = supervised({ resyncMs: 60_000 });
    await informer.start();
    await settle();
    assert.deepEqual(changes.splice(0), ['add alpha', 'add beta']);
    await clock.advance(59_999);
    assert.deepEqual(changes, []);
    await clock.advance(1);
    assert.deepEqual(changes.splice(0), ['resync alpha', 'resync beta']);
    await clock.advance(60_000);
    assert.deepEqual(changes.splice(0), ['resync alpha', 'resync beta']);
    await informer.stop();
    await clock.advance(600_000);
    assert.deepEqual(changes, [], 'resynced after stop');
  });

  it('after a watch error (not a 410, which client-node relists by itself) it replaces the informer and relists, after a jittered 0.5–1 s', async () => {
    for (const [random, delay] of [[0, 500], [0.999, 999.5]] as const) {
      const { clock, informer, made, lists, restarts, current } = supervised({ random: () => random });
      await informer.start();
      await settle();
      assert.equal(lists(), 1);
      current().emit('error', Object.assign(new Error('watch failed: 500'), { code: 500 }));
      await clock.advance(Math.floor(delay) - 1);
      assert.equal(made.length, 1, `restarted before the backoff (${delay} ms) was over`);
      await clock.advance(2);
      assert.equal(made.length, 2);
      assert.equal(made[0]!.stopped, true, 'the failed informer was not stopped');
      assert.equal(lists(), 2, 'the new informer did not list');
      assert.equal(informer.hasSynced(), true);
      assert.equal(await restarts(), 1);
      await informer.stop();
    }
  });

  it('backs off 1, 2, 4 … 30 s (halved by jitter at most) while the watch keeps failing right after each list, and from 1 s again after two quiet minutes', async () => {
    const { clock, informer, made } = supervised({ random: () => 0 });
    await informer.start();
    await settle();
    const gaps: number[] = [];
    for (let i = 0; i < 7; i++) {
      const before = made.length;
      const failedAt = clock.now();
      made.at(-1)!.emit('error', Object.assign(new Error('watch is forbidden'), { code: 403 }));
      while (made.length === before) await clock.advance(100);
      gaps.push(clock.now() - failedAt);
    }
    // each restart's list succeeds, yet the backoff grows: a watch that always fails must not relist every second
    assert.deepEqual(gaps, [500, 1000, 2000, 4000, 8000, 15000, 15000]);

    await clock.advance(2 * 60_000 + 1);
    const before = made.length;
    const failedAt = clock.now();
    made.at(-1)!.emit('error', Object.assign(new Error('watch failed'), { code: 500 }));
    while (made.length === before) await clock.advance(100);
    assert.equal(clock.now() - failedAt, 500);
    await informer.stop();
  });

  it('ignores errors of an informer it has replaced, and restarts nothing after stop', async () => {
    const { clock, informer, made } = supervised();
    await informer.start();
    await settle();
    const first = made[0]!;
    first.emit('error', new Error('watch failed'));
    await clock.advance(1_000);
    assert.equal(made.length, 2);
    first.emit('error', new Error('a late error of the old watch'));
    await clock.advance(60_000);
    assert.equal(made.length, 2, 'an old informer\'s error restarted the current one');

    made[1]!.emit('error', new Error('watch failed'));
    await informer.stop();
    await clock.advance(60_000);
    assert.equal(made.length, 2, 'restarted after stop');
  });

  it('restarts a watch that has seen nothing for the watchdog period, and leaves a watch that sees events alone', async () => {
    const { clock, informer, made, restarts } = supervised({ watchdogMs: 60_000, resyncMs: 3_600_000 });
    await informer.start();
    await settle();
    for (let i = 0; i < 10; i++) {
      await clock.advance(30_000);
      made[0]!.emit('update', registry('alpha'));
    }
    assert.equal(made.length, 1, 'a watch that sees events was restarted');

    // silence: checked every minute, so restarted once more than a minute has passed without a sign of life
    await clock.advance(120_000);
    assert.equal(made.length, 2, 'a silent watch was not restarted');
    assert.equal(await restarts(), 1);
    assert.equal(made[0]!.stopped, true);
    await informer.stop();
  });

  it('a watchdog restart while a restart after an error is pending restarts once, not twice', async () => {
    const { clock, informer, made, restarts } = supervised({ watchdogMs: 60_000, resyncMs: 3_600_000, random: () => 0.999 });
    await informer.start();
    await settle();
    await clock.advance(119_500);
    made[0]!.emit('error', new Error('watch failed'));
    // the watchdog's check at 120 s restarts the silent watch; the restart after the error was due at ~120.5 s
    await clock.advance(500);
    assert.equal(made.length, 2);
    await clock.advance(5_000);
    assert.equal(made.length, 2, 'restarted a second time by the pending restart');
    assert.equal(await restarts(), 1);
    await informer.stop();
  });
});
