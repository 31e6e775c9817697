import { strict as assert } from 'node:assert';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import pino from 'pino';
import { SupervisedInformer } from './informer.ts';

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
