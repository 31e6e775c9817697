import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FailedLoginLimiter } from './rate-limit.ts';

describe('FailedLoginLimiter', () => {
  const options = { maxFailures: 3, windowMs: 1000, lockoutMs: 5000 };

  it('locks a key after maxFailures within the window and says for how long', () => {
    const limiter = new FailedLoginLimiter(options);
    limiter.recordFailure('1.2.3.4', 100);
    assert.equal(limiter.recordFailure('1.2.3.4', 200), false);
    assert.equal(limiter.lockedFor('1.2.3.4', 250), 0);
    assert.equal(limiter.recordFailure('1.2.3.4', 300), true, 'the failure that starts the lockout says so');
    assert.equal(limiter.lockedFor('1.2.3.4', 300), 5000);
    assert.equal(limiter.lockedFor('1.2.3.4', 1300), 4000);
    assert.equal(limiter.lockedFor('5.6.7.8', 1300), 0, 'other addresses are not affected');
    assert.equal(limiter.lockedFor('1.2.3.4', 5300), 0, 'the lockout ends');
  });

  it('does not lift a lockout on success, but otherwise a success clears the failures', () => {
    const limiter = new FailedLoginLimiter(options);
    for (let i = 0; i < 3; i++) limiter.recordFailure('locked', 0);
    limiter.recordSuccess('locked', 10);
    assert.equal(limiter.lockedFor('locked', 10), 4990);

    limiter.recordFailure('typo', 0);
    limiter.recordFailure('typo', 10);
    limiter.recordSuccess('typo', 20);
    limiter.recordFailure('typo', 30);
    limiter.recordFailure('typo', 40);
    assert.equal(limiter.lockedFor('typo', 40), 0);
  });

  it('forgets failures older than the window', () => {
    const limiter = new FailedLoginLimiter(options);
    limiter.recordFailure('a', 0);
    limiter.recordFailure('a', 10);
    limiter.recordFailure('a', 1010);
    assert.equal(limiter.lockedFor('a', 1010), 0);
  });

  it('starts a clean window after a lockout', () => {
    const limiter = new FailedLoginLimiter(options);
    for (let i = 0; i < 3; i++) limiter.recordFailure('a', 0);
    limiter.recordFailure('a', 6000);
    assert.equal(limiter.lockedFor('a', 6000), 0);
  });

  it('refuses parallel attempts beyond what the remaining failures allow', () => {
    const limiter = new FailedLoginLimiter(options);
    limiter.recordFailure('a', 0);
    assert.ok(limiter.begin('a', 1));
    assert.ok(limiter.begin('a', 1));
    assert.equal(limiter.begin('a', 1), false, 'one failure and two running attempts reach three');
    limiter.end('a');
    assert.ok(limiter.begin('a', 2));
    assert.ok(limiter.begin('b', 2), 'other addresses are not affected');
  });

  it('caps the addresses it remembers, dropping the stalest first', () => {
    const limiter = new FailedLoginLimiter({ ...options, maxFailures: 2, maxTracked: 100 });
    limiter.recordFailure('attacker', 0);
    limiter.recordFailure('attacker', 0);
    for (let i = 0; i < 10_000; i++) limiter.recordFailure(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 1 + i / 100);
    assert.ok(limiter.trackedCount <= 100);
    limiter.recordFailure('10.0.39.15', 101);
    assert.ok(limiter.lockedFor('10.0.39.15', 101) > 0, 'the most recent addresses are still counted');
  });

  it('drops entries whose window and lockout have passed', () => {
    const limiter = new FailedLoginLimiter(options);
    for (let i = 0; i < 50; i++) limiter.recordFailure(`a${i}`, 0);
    limiter.recordFailure('late', 10_000);
    assert.equal(limiter.trackedCount, 1);
  });
});
