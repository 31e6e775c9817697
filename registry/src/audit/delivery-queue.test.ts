import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryQueue, type AttemptOutcome, type DeliveryQueueOptions } from './delivery-queue.ts';

/** lets the sender run: its start (setImmediate, not mocked) and the promise chains after an attempt */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

interface Recorder {
  attempts: Array<{ item: number; at: number }>;
  delivered: number[];
  failed: Array<{ item: number; reason: string }>;
  dropped: number[];
}

function queueWith(attempt: (item: number, signal: AbortSignal) => Promise<AttemptOutcome>, options: Partial<DeliveryQueueOptions<number>> = {}) {
  const seen: Recorder = { attempts: [], delivered: [], failed: [], dropped: [] };
  const queue = new DeliveryQueue<number>({
    capacity: 3,
    retries: 3,
    initialBackoffMs: 1000,
    maxBackoffMs: 3000,
    attempt: (item, signal) => {
      seen.attempts.push({ item, at: Date.now() });
      return attempt(item, signal);
    },
    onDelivered: (item) => seen.delivered.push(item),
    onFailed: (item, reason) => seen.failed.push({ item, reason }),
    onDropped: (item) => seen.dropped.push(item),
    ...options,
  });
  return { queue, seen };
}

describe('DeliveryQueue', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  it('delivers in order, one at a time, and not before the caller has finished its turn', async () => {
    let running = 0;
    let most = 0;
    const { queue, seen } = queueWith(async () => {
      most = Math.max(most, ++running);
      await Promise.resolve();
      running--;
      return { outcome: 'delivered' };
    });
    for (const item of [1, 2, 3]) assert.equal(queue.push(item), true);
    assert.equal(seen.attempts.length, 0, 'push never sends in the caller\'s turn');
    await settle();
    assert.deepEqual(seen.delivered, [1, 2, 3]);
    assert.equal(most, 1);
    assert.equal(queue.length, 0);
  });

  it('drops what does not fit while the endpoint hangs: at most capacity waiting plus the one in flight', async () => {
    const { queue, seen } = queueWith(() => new Promise(() => undefined));
    for (let item = 1; item <= 10; item++) queue.push(item);
    await settle();
    // all ten were pushed in one turn, before the sender started: three fit
    assert.deepEqual(seen.dropped, [4, 5, 6, 7, 8, 9, 10]);
    assert.equal(queue.length, 3);
    queue.push(11);
    assert.deepEqual(seen.dropped.length, 7, 'the sender took item 1 out of the queue, so one more fits');
    queue.push(12);
    assert.deepEqual(seen.dropped, [4, 5, 6, 7, 8, 9, 10, 12]);
    assert.equal(queue.length, 4, 'three waiting and one in flight');
  });

  it('retries with doubling backoff, capped, then gives up and says why', async () => {
    const { queue, seen } = queueWith(async () => ({ outcome: 'retry', reason: 'answered 503' }));
    queue.push(1);
    await settle();
    assert.equal(seen.attempts.length, 1);
    for (const wait of [1000, 2000, 3000]) {
      mock.timers.tick(wait - 1);
      await settle();
      const attemptsSoFar: number = seen.attempts.length;
      mock.timers.tick(1);
      await settle();
      assert.equal(seen.attempts.length, attemptsSoFar + 1, `a retry after ${wait} ms`);
    }
    assert.deepEqual(seen.attempts.map((attempt) => attempt.at), [0, 1000, 3000, 6000]);
    assert.deepEqual(seen.failed, [{ item: 1, reason: 'answered 503' }]);
    assert.deepEqual(seen.delivered, []);
  });

  it('counts a thrown attempt (a timeout, a refused connection) as retryable, and stops retrying once delivered', async () => {
    let calls = 0;
    const { queue, seen } = queueWith(async () => {
      if (++calls < 3) throw new Error('connect ECONNREFUSED 127.0.0.1:9');
      return { outcome: 'delivered' };
    });
    queue.push(7);
    await settle();
    mock.timers.tick(1000);
    await settle();
    mock.timers.tick(2000);
    await settle();
    assert.deepEqual(seen.delivered, [7]);
    assert.equal(seen.attempts.length, 3);
    assert.deepEqual(seen.failed, []);
  });

  it('does not retry a refusal', async () => {
    const { queue, seen } = queueWith(async () => ({ outcome: 'reject', reason: 'answered 400' }));
    queue.push(1);
    queue.push(2);
    await settle();
    assert.deepEqual(seen.failed, [{ item: 1, reason: 'answered 400' }, { item: 2, reason: 'answered 400' }]);
    assert.equal(seen.attempts.length, 2);
  });

  it('on close, lets the queue empty within the time given', async () => {
    const { queue, seen } = queueWith(async () => ({ outcome: 'delivered' }));
    queue.push(1);
    queue.push(2);
    const closing = queue.close(5000);
    assert.equal(queue.push(3), false, 'a closed queue takes nothing');
    await settle();
    assert.equal(await closing, 0);
    assert.deepEqual(seen.delivered, [1, 2]);
    assert.deepEqual(seen.dropped, [3]);
  });

  it('on close, gives up on a hanging endpoint after the time given: the attempt is aborted, the rest dropped', async () => {
    let aborted = false;
    const { queue, seen } = queueWith((_item, signal) => new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        aborted = true;
        reject(new Error('aborted'));
      });
    }));
    for (const item of [1, 2, 3]) queue.push(item);
    await settle();
    const closing = queue.close(5000);
    mock.timers.tick(4999);
    await settle();
    assert.equal(aborted, false);
    mock.timers.tick(1);
    assert.equal(await closing, 2);
    assert.equal(aborted, true);
    assert.deepEqual(seen.dropped, [2, 3]);
    assert.deepEqual(seen.failed, [{ item: 1, reason: 'shutting down' }]);
    assert.equal(seen.attempts.length, 1, 'no retry after the close');
  });
});
