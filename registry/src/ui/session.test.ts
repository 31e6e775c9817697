import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { newSession, openSession, sealSession, SESSION_MAX_AGE_MS } from './session.ts';

const key = randomBytes(32);
const now = Date.parse('2025-06-01T12:00:00Z');
const versions = new Map([['alice', 'v1'], ['bob', 'b1']]);
const versionOf = (user: string) => versions.get(user);

describe('ui session cookie', () => {
  it('opens what it sealed, until it expires after 12 hours', () => {
    const session = newSession('alice', now);
    const cookie = sealSession(session, key, 'v1');
    assert.deepEqual(openSession(cookie, key, versionOf, now + 1000), session);
    assert.equal(session.expiresAt, now + SESSION_MAX_AGE_MS);
    assert.equal(openSession(cookie, key, versionOf, now + SESSION_MAX_AGE_MS), null);
  });

  it('refuses a cookie signed with another key (another registry, or a forged one)', () => {
    const cookie = sealSession(newSession('alice', now), randomBytes(32), 'v1');
    assert.equal(openSession(cookie, key, versionOf, now), null);
  });

  it('refuses a cookie whose user was changed to another one', () => {
    const cookie = sealSession(newSession('alice', now), key, 'v1');
    const [, signature] = cookie.split('.');
    const payload = Buffer.from(JSON.stringify({ u: 'bob', e: now + 1000, n: 'x' })).toString('base64url');
    assert.equal(openSession(`${payload}.${signature}`, key, versionOf, now), null);
  });

  it('ends when the user\'s password changes or the user is removed', () => {
    const cookie = sealSession(newSession('alice', now), key, 'v1');
    assert.equal(openSession(cookie, key, () => 'v2', now), null);
    assert.equal(openSession(cookie, key, () => undefined, now), null);
  });

  for (const garbage of ['', '.', 'abc', 'abc.def', `${Buffer.from('[]').toString('base64url')}.x`]) {
    it(`refuses the malformed cookie ${JSON.stringify(garbage)}`, () => {
      assert.equal(openSession(garbage, key, versionOf, now), null);
    });
  }
});
