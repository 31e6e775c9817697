// htpasswd files with bcrypt entries, as `htpasswd -B` writes them, and the password check against them.
import { createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';

// $2y$ is what Apache writes; $2a$ and $2b$ come from other tools. All three are the same algorithm for our use.
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
// htpasswd's own default for -B; used for the decoy when the file holds no bcrypt entry
const DEFAULT_COST = 5;

export interface HtpasswdFile {
  /** user → bcrypt hash */
  users: Map<string, string>;
  /** users whose entries are not bcrypt (MD5, SHA, crypt, plain): reported, never accepted */
  unsupported: string[];
  /** users listed more than once: the first line wins, as with Apache */
  duplicates: string[];
  /** cost of the file's hashes, so a login for an unknown user can take as long as one for a known user */
  decoyCost: number;
}

/** Throws on a line that is not `user:hash`; the message gives the line number, never the line. */
export function parseHtpasswd(text: string): HtpasswdFile {
  const users = new Map<string, string>();
  const unsupported: string[] = [];
  const duplicates: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const separator = line.indexOf(':');
    if (separator <= 0) throw new Error(`htpasswd line ${index + 1} is not user:hash`);
    const user = line.slice(0, separator);
    const hash = line.slice(separator + 1);
    if (users.has(user) || unsupported.includes(user)) duplicates.push(user);
    else if (BCRYPT_HASH.test(hash)) users.set(user, hash);
    else unsupported.push(user);
  });
  const firstHash = users.values().next().value;
  const decoyCost = firstHash ? Number(firstHash.slice(4, 6)) : DEFAULT_COST;
  return { users, unsupported, duplicates, decoyCost };
}

export interface PasswordVerifierOptions {
  /** successful checks remembered; least recently used forgotten first */
  maxRemembered?: number;
}

/**
 * bcrypt is deliberately slow (tens of ms) and a client sends credentials on every request, so a successful
 * check is remembered. The key covers user, stored hash and password: a changed hash is a new key, and a wrong
 * password can never hit a remembered success. Failures are not remembered. Keys are HMACs under a per-process
 * secret, so the cache in a memory dump is no fast oracle for guessing passwords.
 */
export class PasswordVerifier {
  private readonly secret = randomBytes(32);
  private readonly remembered = new Map<string, true>();
  // a client pushing layers in parallel sends the same credentials at once: check them once
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly decoys = new Map<number, Promise<string>>();
  private readonly maxRemembered: number;

  constructor(options: PasswordVerifierOptions = {}) {
    this.maxRemembered = options.maxRemembered ?? 10_000;
  }

  /** True when this exact check succeeded before; cheap, no bcrypt. */
  remembers(user: string, password: string, hash: string): boolean {
    const key = this.keyOf(user, hash, password);
    if (!this.remembered.delete(key)) return false;
    this.remembered.set(key, true);
    return true;
  }

  async verify(user: string, password: string, hash: string): Promise<boolean> {
    if (this.remembers(user, password, hash)) return true;
    const key = this.keyOf(user, hash, password);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const check = bcrypt.compare(password, hash).then((ok) => {
      if (ok) this.remember(key);
      return ok;
    }).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, check);
    return check;
  }

  /** Spends about as long as a real check, so the response time does not tell whether a user exists. */
  async decoy(password: string, cost: number): Promise<false> {
    let decoyHash = this.decoys.get(cost);
    if (!decoyHash) {
      decoyHash = bcrypt.hash(randomBytes(16).toString('hex'), cost);
      this.decoys.set(cost, decoyHash);
    }
    await bcrypt.compare(password, await decoyHash);
    return false;
  }

  get rememberedCount(): number {
    return this.remembered.size;
  }

  private remember(key: string): void {
    this.remembered.set(key, true);
    if (this.remembered.size > this.maxRemembered) {
      const oldest = this.remembered.keys().next().value;
      if (oldest !== undefined) this.remembered.delete(oldest);
    }
  }

  private keyOf(user: string, hash: string, password: string): string {
    const mac = createHmac('sha256', this.secret);
    // length prefixes: no choice of user and password can run into the next field
    for (const part of [user, hash, password]) mac.update(`${Buffer.byteLength(part)}:`).update(part);
    return mac.digest('base64');
  }
}
