import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from './parallel.ts';

describe('Batcher', () => {
  it('hands over full batches, then the rest, with no more than the allowed number running at once', async () => {
    const batches: number[][] = [];
    let running = 0;
    let most = 0;
    const batcher = new Batcher<number>(3, 2, async (batch) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      batches.push(batch);
      running--;
    });
    for (let i = 0; i < 10; i++) await batcher.add(i);
    await batcher.flush();
    assert.deepEqual(batches.flat().sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(batches.map((batch) => batch.length).sort(), [1, 3, 3, 3]);
    assert.equal(most, 2);
  });

  it('reports a failed batch to the next add or to flush, never as an unhandled rejection', async () => {
    const batcher = new Batcher<number>(1, 2, async (batch) => {
      if (batch[0] === 1) throw new Error('storage down');
    });
    await batcher.add(0);
    await batcher.add(1);
    await new Promise((r) => setImmediate(r));
    await assert.rejects(async () => {
      await batcher.add(2);
      await batcher.flush();
    }, /storage down/);
  });
});
