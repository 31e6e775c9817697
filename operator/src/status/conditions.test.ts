import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findCondition, sameStatus, setCondition } from './conditions.ts';

describe('conditions', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const t1 = new Date('2026-01-01T00:05:00Z');

  it('moves lastTransitionTime only when the status changes, and always stamps observedGeneration', () => {
    let conditions = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Deploying', message: 'a' }, 1, t0);
    conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: 'Waiting', message: 'b' }, 2, t1);
    assert.equal(findCondition(conditions, 'Ready')!.lastTransitionTime, t0);
    assert.equal(findCondition(conditions, 'Ready')!.observedGeneration, 2);
    assert.equal(findCondition(conditions, 'Ready')!.reason, 'Waiting');
    conditions = setCondition(conditions, { type: 'Ready', status: 'True', reason: 'Available', message: 'c' }, 2, t1);
    assert.equal(findCondition(conditions, 'Ready')!.lastTransitionTime, t1);
    assert.equal(conditions.length, 1);
  });

  it('compares statuses as stored, so an unchanged status is not written again', () => {
    const conditions = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Available', message: 'ok' }, 1, t0);
    const stored = JSON.parse(JSON.stringify({ url: 'https://x', conditions }));
    assert.ok(sameStatus({ url: 'https://x', conditions, extra: undefined }, stored));
    assert.ok(!sameStatus({ url: 'https://y', conditions }, stored));
  });
});
