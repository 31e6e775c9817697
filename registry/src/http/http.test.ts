import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { matchRoute } from './router.ts';
import { paginate } from './pagination.ts';
import { parseRange } from './routes/blobs.ts';
import { accepts } from './routes/manifests.ts';

const digest = `sha256:${'a'.repeat(64)}`;

describe('router', () => {
  it('matches nested repository names from the end of the path', () => {
    assert.deepEqual(matchRoute('/v2/'), { group: 'base' });
    assert.deepEqual(matchRoute('/v2/_catalog'), { group: 'catalog' });
    assert.deepEqual(matchRoute('/v2/a/b/c/tags/list'), { group: 'tags', name: 'a/b/c' });
    assert.deepEqual(matchRoute('/v2/a/b/manifests/latest'), { group: 'manifests', name: 'a/b', reference: 'latest' });
    assert.deepEqual(matchRoute(`/v2/a/blobs/${digest}`), { group: 'blobs', name: 'a', digest });
    assert.deepEqual(matchRoute(`/v2/a/blobs/sha256%3A${'a'.repeat(64)}`), { group: 'blobs', name: 'a', digest });
    assert.deepEqual(matchRoute('/v2/a/blobs/uploads/'), { group: 'uploads', name: 'a' });
    assert.deepEqual(matchRoute('/v2/a/blobs/uploads/123'), { group: 'uploads', name: 'a', uuid: '123' });
    assert.deepEqual(matchRoute(`/v2/a/referrers/${digest}`), { group: 'referrers', name: 'a', digest });
    assert.equal(matchRoute('/v3/a'), null);
    assert.equal(matchRoute('/v2/a/manifests/%E0%A4%A'), null);
    assert.deepEqual(matchRoute('/v2/a/blobs/uploads/..%2F..%2Fetc'), { group: 'uploads', name: 'a', uuid: '../../etc' });
    assert.deepEqual(matchRoute('/v2/..%2Fx/tags/list'), { group: 'tags', name: '../x' });
  });
});

describe('pagination', () => {
  const items = ['a', 'b', 'c', 'd', 'e'];
  it('returns n items after last, and a Link while more remain', () => {
    assert.deepEqual(paginate(items, '/p', '2', undefined), { items: ['a', 'b'], link: '</p?n=2&last=b>; rel="next"' });
    assert.deepEqual(paginate(items, '/p', '2', 'd'), { items: ['e'] });
    assert.deepEqual(paginate(items, '/p', undefined, 'b'), { items: ['c', 'd', 'e'] });
    assert.deepEqual(paginate(items, '/p', '0', undefined), { items: [] });
    assert.deepEqual(paginate(items, '/p', '10', 'bb'), { items: ['c', 'd', 'e'] });
    for (const n of ['-1', 'abc', '1.5', '', '0x10']) {
      assert.throws(() => paginate(items, '/p', n, undefined), (error: any) => error.descriptor.code === 'PAGINATION_NUMBER_INVALID' && error.httpStatus === 400, n);
    }
  });
});

describe('byte ranges', () => {
  it('parses single ranges, refuses unsatisfiable ones and ignores the rest (RFC 9110)', () => {
    assert.equal(parseRange(undefined, 10), null);
    assert.deepEqual(parseRange('bytes=0-3', 10), { start: 0, end: 3 });
    assert.deepEqual(parseRange('bytes=5-', 10), { start: 5, end: 9 });
    assert.deepEqual(parseRange('bytes=-4', 10), { start: 6, end: 9 });
    assert.deepEqual(parseRange('bytes=8-100', 10), { start: 8, end: 9 });
    assert.equal(parseRange('bytes=10-12', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
    assert.deepEqual(parseRange('Bytes=1-2', 10), { start: 1, end: 2 });
    for (const ignored of ['bytes=5-2', 'items=0-1', 'bytes=0-1,3-4', 'bytes=-', 'bytes=abc', 'bytes 0-1', 'garbage']) {
      assert.equal(parseRange(ignored, 10), null, ignored);
    }
  });
});

describe('manifest Accept negotiation', () => {
  it('admits wildcards and listed types only', () => {
    const index = 'application/vnd.oci.image.index.v1+json';
    assert.ok(accepts(undefined, index));
    assert.ok(accepts('*/*', index));
    assert.ok(accepts(`application/vnd.oci.image.manifest.v1+json, ${index};q=0.9`, index));
    assert.ok(accepts(['application/vnd.oci.image.manifest.v1+json', index], index));
    assert.equal(accepts('application/vnd.docker.distribution.manifest.v2+json', index), false);
  });
});
