// The web session: a cookie holding {user, expires, nonce}, signed with HMAC-SHA256 (@fastify/cookie's signer)
// under a key derived from the shared session key and the user's current htpasswd entry, so a changed password or
// a removed user ends every session of theirs without any server-side session state (replicas stay stateless).
import { createHmac, randomBytes } from 'node:crypto';
import { sign, unsign } from '@fastify/cookie';

export const SESSION_COOKIE = 'regop_session';
export const CSRF_COOKIE = 'regop_csrf';
/** a session lasts a working day at most; the user logs in again after it */
export const SESSION_MAX_AGE_MS = 12 * 60 * 60 * 1000;

export interface Session {
  user: string;
  /** milliseconds since the epoch */
  expiresAt: number;
  /** makes every session's cookie distinct, even two logins of one user in one millisecond */
  nonce: string;
}

/** one key per purpose, so a signature made for one (a CSRF cookie) is never valid for another (a session) */
export function derivedKey(sessionKey: Buffer, purpose: string): Buffer {
  return createHmac('sha256', sessionKey).update(purpose).digest();
}

function userKey(sessionKey: Buffer, credentialVersion: string): Buffer {
  return derivedKey(sessionKey, `session\u0000${credentialVersion}`);
}

export function newSession(user: string, now: number): Session {
  return { user, expiresAt: now + SESSION_MAX_AGE_MS, nonce: randomBytes(12).toString('base64url') };
}

export function sealSession(session: Session, sessionKey: Buffer, credentialVersion: string): string {
  const payload = Buffer.from(JSON.stringify({ u: session.user, e: session.expiresAt, n: session.nonce })).toString('base64url');
  return sign(payload, userKey(sessionKey, credentialVersion));
}

/**
 * The session a cookie holds, or null when it is forged, expired, or its user's htpasswd entry changed or went.
 * `credentialVersionOf` gives the user's current entry's version (Authenticator.credentialVersion).
 */
export function openSession(
  cookie: string, sessionKey: Buffer, credentialVersionOf: (user: string) => string | undefined, now: number,
): Session | null {
  // the user is read before the signature is checked only to pick the key that checks it
  const claimed = decodePayload(cookie.slice(0, Math.max(0, cookie.lastIndexOf('.'))));
  if (!claimed) return null;
  const version = credentialVersionOf(claimed.user);
  if (version === undefined) return null;
  const verified = unsign(cookie, userKey(sessionKey, version));
  if (!verified.valid || verified.value === null) return null;
  return claimed.expiresAt > now ? claimed : null;
}

function decodePayload(payload: string): Session | null {
  try {
    const fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { u?: unknown; e?: unknown; n?: unknown };
    if (typeof fields.u !== 'string' || typeof fields.e !== 'number' || typeof fields.n !== 'string') return null;
    return { user: fields.u, expiresAt: fields.e, nonce: fields.n };
  } catch {
    return null;
  }
}
