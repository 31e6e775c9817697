import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Controller, TerminalError, type ReconcileResult } from './controller.ts';
import { FakeClock, settle } from './fake-clock.ts';
import { OperatorMetrics } from './metrics.ts';

const logger = pino({ level: 'silent' });

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

/** a controller on a fake clock whose reconcile the test scripts; records each call's key and time */
function harness(reconcile: (key: string, call: number) => Promise<ReconcileResult>, workers = 1) {
  const clock = new FakeClock();
  const metrics = new OperatorMetrics();
  const calls: Array<{ key: string; at: number }> = [];
  const start = clock.now();
  const controller = new Controller({
    name: 'test', logger, metrics, workers, clock,
    reconcile: (key) => {
      calls.push({ key, at: clock.now() - start });
      return reconcile(key, calls.filter((c) => c.key === key).length);
    },
  });
  controller.start();
  return { clock, metrics, calls, controller, times: (key: string) => calls.filter((c) => c.key === key).map((c) => c.at) };
}

async function reconcileCount(metrics: OperatorMetrics, result: string): Promise<number> {
  const { values } = await metrics.reconciles.get();
  return values.find((v) => v.labels.controller === 'test' && v.labels.result === result)?.value ?? 0;
}

describe('Controller', () => {
  it('never reconciles one key twice at once, with four workers, though the key is re-added while it runs', async () => {
    const running = new Map<string, number>();
    let mostAtOnce = 0;
    let othersRanAlongside = false;
    const gate = deferred();
    const { controller, calls } = harness(async (key, call) => {
      running.set(key, (running.get(key) ?? 0) + 1);
      mostAtOnce = Math.max(mostAtOnce, running.get(key)!);
      if (key !== 'team/a' && running.get('team/a')) othersRanAlongside = true;
      if (key === 'team/a' && call === 1) await gate.promise;
      await settle();
      running.set(key, running.get(key)! - 1);
    }, 4);
    try {
      controller.enqueue('team/a');
      await settle();
      for (let i = 0; i < 5; i++) {
        controller.enqueue('team/a');
        controller.enqueue(`team/other-${i}`);
        await settle();
      }
      assert.deepEqual(calls.filter((c) => c.key === 'team/a').length, 1, 'team/a was reconciled again while its first reconcile was running');
      assert.ok(othersRanAlongside, 'the other workers did not reconcile other keys meanwhile');

      gate.resolve();
      await settle();
      await settle();
      assert.equal(mostAtOnce, 1);
      // the five adds during the first reconcile collapse into one more pass, after it
      assert.equal(calls.filter((c) => c.key === 'team/a').length, 2);
    } finally {
      await controller.stop();
    }
  });

  it('honours requeueAfter: the key comes back after exactly that long, counted as a requeue', async () => {
    const { controller, clock, metrics, times } = harness(async (_key, call) => (call === 1 ? { requeueAfterMs: 30_000 } : undefined));
    try {
      controller.enqueue('team/a');
      await clock.advance(29_999);
      assert.deepEqual(times('team/a'), [0]);
      await clock.advance(1);
      assert.deepEqual(times('team/a'), [0, 30_000]);
      await clock.advance(3_600_000);
      assert.deepEqual(times('team/a'), [0, 30_000], 'requeued although the second pass asked for nothing');
      assert.equal(await reconcileCount(metrics, 'requeue'), 1);
      assert.equal(await reconcileCount(metrics, 'success'), 1);
    } finally {
      await controller.stop();
    }
  });

  it('retries an error with per-key backoff (5, 10, 20 ms), and a success resets it', async () => {
    const { controller, clock, metrics, times } = harness(async (_key, call) => {
      if (call !== 4) throw new Error('the API server said no');
    });
    try {
      controller.enqueue('team/a');
      await clock.advance(100);
      // calls 1–3 fail (retried after 5, 10, 20 ms), call 4 succeeds at 35 ms
      assert.deepEqual(times('team/a'), [0, 5, 15, 35]);
      assert.equal(await reconcileCount(metrics, 'error'), 3);
      assert.equal(await reconcileCount(metrics, 'success'), 1);

      // a new failure after the success starts from 5 ms again, not 40
      controller.enqueue('team/a');
      await clock.advance(100);
      assert.deepEqual(times('team/a').slice(4), [100, 105, 115, 135, 175]);
    } finally {
      await controller.stop();
    }
  });

  it('does not retry a terminal error, and counts it as terminal', async () => {
    const { controller, clock, metrics, times } = harness(async () => {
      throw new TerminalError('spec.storage.size is not a quantity');
    });
    try {
      controller.enqueue('team/a');
      await clock.advance(2_000_000);
      assert.deepEqual(times('team/a'), [0]);
      assert.equal(await reconcileCount(metrics, 'terminal'), 1);
      assert.equal(await reconcileCount(metrics, 'error'), 0);
      // a change to the object (a new enqueue) reconciles it again
      controller.enqueue('team/a');
      await settle();
      assert.deepEqual(times('team/a'), [0, 2_000_000]);
    } finally {
      await controller.stop();
    }
  });

  it('counts every reconcile with its duration, and reports the queue depth', async () => {
    const gate = deferred();
    const { controller, metrics } = harness(async (key) => {
      if (key === 'team/slow') await gate.promise;
    });
    try {
      controller.enqueue('team/slow');
      await settle();
      controller.enqueue('team/a');
      controller.enqueue('team/b');
      const depth = (await metrics.queueDepth.get()).values.find((v) => v.labels.controller === 'test')?.value;
      assert.equal(depth, 2, 'two keys wait behind the one in progress');
      gate.resolve();
      await settle();
      assert.equal(await reconcileCount(metrics, 'success'), 3);
      const durations = (await metrics.durations.get()).values.find((v) => v.metricName === 'regop_operator_reconcile_duration_seconds_count');
      assert.equal(durations?.value, 3);
    } finally {
      await controller.stop();
    }
  });

  it('stop waits for the reconcile in progress and starts no other', async () => {
    const gate = deferred();
    const { controller, times } = harness(async (key) => {
      if (key === 'team/a') await gate.promise;
    });
    controller.enqueue('team/a');
    await settle();
    let stopped = false;
    const stopping = controller.stop().then(() => { stopped = true; });
    await settle();
    assert.equal(stopped, false, 'stop returned while a reconcile was still running');
    controller.enqueue('team/b');
    gate.resolve();
    await stopping;
    assert.deepEqual(times('team/b'), []);
  });
});
