import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { FakeClock, settle } from './fake-clock.ts';
import { WorkQueue } from './work-queue.ts';

/** what get() has handed out so far, without blocking the test on an empty queue */
function taker(queue: WorkQueue): { taken: Array<string | undefined>; take(): void } {
  const taken: Array<string | undefined> = [];
  return { taken, take: () => void queue.get().then((key) => taken.push(key)) };
}

describe('WorkQueue', () => {
  it('collapses duplicates: a key added three times is handed out once', async () => {
    const queue = new WorkQueue({}, new FakeClock());
    queue.add('team/a');
    queue.add('team/b');
    queue.add('team/a');
    queue.add('team/a');
    assert.equal(queue.length, 2);
    assert.equal(await queue.get(), 'team/a');
    assert.equal(await queue.get(), 'team/b');
    assert.equal(queue.length, 0);
  });

  it('never hands a key in progress to a second worker; added meanwhile (twice), it comes back once when done', async () => {
    const queue = new WorkQueue({}, new FakeClock());
    const first = taker(queue);
    const second = taker(queue);
    first.take();
    second.take();
    queue.add('team/a');
    await settle();
    assert.deepEqual(first.taken, ['team/a']);

    queue.add('team/a');
    queue.add('team/a');
    await settle();
    assert.deepEqual(second.taken, [], 'a second worker got a key still in progress');
    assert.equal(queue.length, 0);

    queue.done('team/a');
    await settle();
    assert.deepEqual(second.taken, ['team/a']);
    queue.done('team/a');
    assert.equal(queue.length, 0, 'the key was queued again though nothing added it after the second worker took it');
  });

  it('a key added while in progress and no worker waiting is queued again once, at done', async () => {
    const queue = new WorkQueue({}, new FakeClock());
    queue.add('team/a');
    assert.equal(await queue.get(), 'team/a');
    queue.add('team/a');
    queue.add('team/a');
    assert.equal(queue.length, 0);
    queue.done('team/a');
    assert.equal(queue.length, 1);
    assert.equal(await queue.get(), 'team/a');
  });

  it('backs a failing key off per key: 5 ms doubling up to 1000 s', () => {
    // a bucket too large to matter, so only the per-key backoff shows
    const queue = new WorkQueue({ qps: 1e9, burst: 1e9 }, new FakeClock());
    const delays = Array.from({ length: 22 }, () => queue.addRateLimited('team/a'));
    const expected = Array.from({ length: 22 }, (_, n) => Math.min(5 * 2 ** n, 1_000_000));
    assert.deepEqual(delays, expected);
    assert.equal(delays.at(-1), 1_000_000);
    // another key has its own count
    assert.equal(queue.addRateLimited('team/b'), 5);
  });

  it('forget resets the backoff: after a success the next failure waits 5 ms again', () => {
    const queue = new WorkQueue({}, new FakeClock());
    assert.deepEqual([1, 2, 3, 4].map(() => queue.addRateLimited('team/a')), [5, 10, 20, 40]);
    queue.forget('team/a');
    assert.equal(queue.addRateLimited('team/a'), 5);
    assert.equal(queue.addRateLimited('team/a'), 10);
  });

  it('hands a rate-limited key out only once its delay has passed', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({}, clock);
    queue.addRateLimited('team/a');
    queue.addRateLimited('team/a'); // second failure: 10 ms, but the 5 ms entry is earlier and kept
    const worker = taker(queue);
    worker.take();
    await clock.advance(4);
    assert.deepEqual(worker.taken, []);
    await clock.advance(1);
    assert.deepEqual(worker.taken, ['team/a']);
    queue.done('team/a');
    await clock.advance(100);
    assert.equal(queue.length, 0, 'the later, superseded delay fired too');
  });

  it('keeps the earliest of several delayed adds of one key', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({}, clock);
    queue.addAfter('team/a', 100);
    queue.addAfter('team/a', 30);
    queue.addAfter('team/a', 60);
    await clock.advance(29);
    assert.equal(queue.length, 0);
    await clock.advance(1);
    assert.equal(queue.length, 1);
    assert.equal(await queue.get(), 'team/a');
    queue.done('team/a');
    await clock.advance(1000);
    assert.equal(queue.length, 0);
  });

  it('the overall token bucket (10/s, burst 100) slows failures across keys once the burst is spent', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({}, clock);
    const first = Array.from({ length: 100 }, (_, i) => queue.addRateLimited(`team/k${i}`));
    assert.ok(first.every((delay) => delay === 5), 'the burst of 100 first failures earns only the per-key 5 ms');
    // the bucket is empty: each further failure waits 100 ms longer than the one before
    assert.equal(Math.round(queue.addRateLimited('team/x1')), 100);
    assert.equal(Math.round(queue.addRateLimited('team/x2')), 200);
    // a second refills one token
    await clock.advance(1000);
    const refilled = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => queue.addRateLimited(`team/y${i}`));
    assert.ok(refilled.every((delay) => delay === 5), `after a second the refilled tokens are spent first: ${refilled}`);
    assert.equal(Math.round(queue.addRateLimited('team/y9')), 100);
  });

  it('after shutDown a waiting worker gets undefined, delayed keys never arrive, adds are ignored', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({}, clock);
    const worker = taker(queue);
    worker.take();
    queue.addAfter('team/a', 10);
    queue.shutDown();
    await settle();
    assert.deepEqual(worker.taken, [undefined]);
    queue.add('team/b');
    await clock.advance(100);
    assert.equal(queue.length, 0);
    assert.equal(await queue.get(), undefined);
  });
});
