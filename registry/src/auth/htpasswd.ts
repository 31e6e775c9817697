// htpasswd files with bcrypt entries, as `htpasswd -B` writes them. bcrypt is deliberately slow (tens of ms),
// so a successful check is remembered, keyed by a hash of user, stored hash and password: a changed password
// or hash is a different key, and a wrong password never matches a remembered success.
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';

const BCRYPT_PREFIX = /^\$2[aby]\$\d\d\$/;
const MAX_REMEMBERED = 10_000;

export interface HtpasswdFile {
  /** user → bcrypt hash */
  users: Map<string, string>;
  /** users whose entries use another scheme (reported, never accepted) */
  unsupported: string[];
}

export function parseHtpasswd(text: string): HtpasswdFile {
  const users = new Map<string, string>();
  const unsupported: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const separator = line.indexOf(':');
    if (separator <= 0) throw new Error('htpasswd line without user:hash');
    const user = line.slice(0, separator);
    const hash = line.slice(separator + 1);
    if (BCRYPT_PREFIX.test(hash)) users.set(user, hash);
    else unsupported.push(user);
  }
  return { users, unsupported };
}

export class PasswordVerifier {
  private readonly remembered = new Set<string>();

  async verify(user: string, password: string, hash: string): Promise<boolean> {
    const key = createHash('sha256').update(user).update('\0').update(hash).update('\0').update(password).digest('hex');
    if (this.remembered.has(key)) return true;
    // bcryptjs does not know the $2y$ prefix Apache writes; it is the same algorithm as $2b$
    const ok = await bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$'));
    if (ok) {
      if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
      this.remembered.add(key);
    }
    return ok;
  }
}
