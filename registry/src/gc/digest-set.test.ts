import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DigestSet } from './digest-set.ts';

describe('digest set', () => {
  it('knows the digests added, of either algorithm, and no others', () => {
    const set = new DigestSet();
    const sha256 = `sha256:${'ab'.repeat(32)}`;
    const sha512 = `sha512:${'ab'.repeat(64)}`;
    set.add(sha256);
    set.add(sha512);
    set.add(sha256);
    assert.equal(set.size, 2);
    assert.ok(set.has(sha256) && set.has(sha512));
    assert.ok(!set.has(`sha256:${'ab'.repeat(31)}ac`));
    assert.ok(!set.has(`sha512:${'ab'.repeat(32)}`), 'a sha512 digest whose bytes equal a stored sha256 one');
  });
});
