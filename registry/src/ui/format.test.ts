import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { countOf, firstOf, formatBytes, formatRelative, formatTime, shortDigest, truncate } from './format.ts';

describe('ui format', () => {
  it('shows sizes in decimal units as registries do', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1500), '1.5 kB');
    assert.equal(formatBytes(2_500_000_000), '2.5 GB');
  });

  it('counts with thousands separators and the right noun', () => {
    assert.equal(countOf(1, 'tag'), '1 tag');
    assert.equal(countOf(10_000, 'tag'), '10,000 tags');
    assert.equal(countOf(2, 'repository', 'repositories'), '2 repositories');
  });

  it('says how long ago in the coarsest unit', () => {
    const now = new Date('2025-06-01T12:00:00Z');
    assert.equal(formatRelative(new Date('2025-06-01T11:59:30Z'), now), '30 seconds ago');
    assert.equal(formatRelative(new Date('2025-06-01T09:00:00Z'), now), '3 hours ago');
    assert.equal(formatRelative(new Date('2025-05-31T12:00:00Z'), now), 'yesterday');
    assert.equal(formatRelative(new Date('2023-06-01T12:00:00Z'), now), '2 years ago');
  });

  it('shows absolute times in UTC', () => {
    assert.equal(formatTime(new Date('2025-06-01T12:34:00Z')), 'Jun 1, 2025, 12:34 PM UTC');
  });

  it('shortens a digest to its algorithm and 12 hex digits', () => {
    assert.equal(shortDigest(`sha256:${'ab'.repeat(32)}`), 'sha256:abababababab');
  });

  it('keeps the whole of a truncated value for "show all"', () => {
    assert.deepEqual(truncate('short', 10), { shown: 'short' });
    assert.deepEqual(truncate('x'.repeat(12), 10), { shown: `${'x'.repeat(10)}…`, whole: 'x'.repeat(12) });
  });

  it('lists the first entries of a long list and how many more there are', () => {
    assert.deepEqual(firstOf([1, 2, 3, 4], 3), { items: [1, 2, 3], more: 1 });
    assert.deepEqual(firstOf([1], 3), { items: [1], more: 0 });
  });
});
