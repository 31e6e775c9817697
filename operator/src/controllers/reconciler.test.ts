import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject, V1Condition } from '@kubernetes/client-node';
import { FakeClusterClient } from '../kube/fake-cluster-client.ts';
import { Reconciler, type ConditionedStatus, type ReconcileResult, type Resource } from './reconciler.ts';

interface WidgetStatus extends ConditionedStatus {
  url?: string;
  lastRun?: string;
}
type Widget = Resource<WidgetStatus> & KubernetesObject;

const TYPE = { apiVersion: 'example.dev/v1', kind: 'Widget' };
const FINALIZER = 'example.dev/cleanup';

/** a reconciler whose reconcile the test drives through the base's helpers */
class WidgetReconciler extends Reconciler<Widget, WidgetStatus> {
  cleanups = 0;
  constructor(client: FakeClusterClient, now: () => Date) {
    super({ client, events: { normal() {}, warning() {} }, defaultImage: 'unused', now }, TYPE);
  }
  async reconcile(): Promise<ReconcileResult> { return undefined; }
  status(widget: Widget, fields: Partial<WidgetStatus>, ready: boolean, removed: Array<keyof WidgetStatus> = []) {
    return this.writeStatus(widget, fields, [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'Done' : 'Working', message: '' }], removed);
  }
  finalizer(widget: Widget, wanted: boolean) {
    return this.keepFinalizer(widget, FINALIZER, wanted, async () => { this.cleanups++; });
  }
}

function setup() {
  const client = new FakeClusterClient();
  let now = new Date('2026-03-01T10:00:00Z');
  const reconciler = new WidgetReconciler(client, () => now);
  client.put({ ...TYPE, metadata: { name: 'w', namespace: 'ns', generation: 3, finalizers: ['other.dev/keep'] } });
  const widget = async () => (await client.get<Widget>({ ...TYPE, namespace: 'ns', name: 'w' }))!;
  return { client, reconciler, widget, tick: (ms: number) => { now = new Date(now.getTime() + ms); } };
}

const ready = (widget: Widget): V1Condition | undefined => widget.status?.conditions?.find((c) => c.type === 'Ready');

describe('Reconciler base', () => {
  it('writes the status only when it differs, stamps observedGeneration and moves lastTransitionTime only on a change', async () => {
    const { client, reconciler, widget, tick } = setup();
    assert.equal(await reconciler.status(await widget(), { url: 'https://w' }, false), true);
    const first = await widget();
    assert.equal(first.status!.observedGeneration, 3);
    assert.equal(first.status!.url, 'https://w');
    const since = ready(first)!.lastTransitionTime;

    tick(60_000);
    assert.equal(await reconciler.status(await widget(), { url: 'https://w' }, false), false, 'an unchanged status was written');
    assert.equal(client.statusPatches.length, 1);

    tick(60_000);
    assert.equal(await reconciler.status(await widget(), { url: 'https://w' }, true), true);
    assert.notEqual(String(ready(await widget())!.lastTransitionTime), String(since));
  });

  it('sends a field that no longer applies as null, so the merge patch removes it', async () => {
    const { client, reconciler, widget } = setup();
    await reconciler.status(await widget(), { url: 'https://w', lastRun: 'job-1' }, true);
    await reconciler.status(await widget(), {}, true, ['lastRun']);
    assert.equal((client.statusPatches.at(-1) as Record<string, unknown>).lastRun, null);
    assert.equal((await widget()).status!.lastRun, undefined);
    assert.equal((await widget()).status!.url, 'https://w');
    assert.equal(await reconciler.status(await widget(), {}, true, ['lastRun']), false, 'a field already gone was removed again');
  });

  it('adds a wanted finalizer beside others, removes it after its cleanup, and removes it while the object is deleted', async () => {
    const { client, reconciler, widget } = setup();
    await reconciler.finalizer(await widget(), true);
    assert.deepEqual((await widget()).metadata.finalizers, ['other.dev/keep', FINALIZER]);
    await reconciler.finalizer(await widget(), true);
    assert.equal(reconciler.cleanups, 0);

    await reconciler.finalizer(await widget(), false);
    assert.deepEqual((await widget()).metadata.finalizers, ['other.dev/keep']);
    assert.equal(reconciler.cleanups, 1);
    await reconciler.finalizer(await widget(), false);
    assert.equal(reconciler.cleanups, 1, 'cleaned up again with no finalizer to remove');

    await reconciler.finalizer(await widget(), true);
    const deleting = await widget();
    client.put({ ...deleting, metadata: { ...deleting.metadata, deletionTimestamp: new Date() } });
    await reconciler.finalizer(await widget(), true);
    assert.deepEqual((await widget()).metadata.finalizers, ['other.dev/keep'], 'a deleted object kept the finalizer');
    assert.equal(reconciler.cleanups, 2);
  });
});
