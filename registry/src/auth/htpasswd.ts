// htpasswd files with bcrypt entries, as `htpasswd -B` writes them. The password check is in password-verifier.ts.

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
  /**
   * the highest cost among the file's hashes: a login for an unknown user costs as much as one for the most
   * expensive real user, so with mixed costs no response time is shorter than every real user's
   */
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
  let decoyCost = users.size > 0 ? 0 : DEFAULT_COST;
  for (const hash of users.values()) decoyCost = Math.max(decoyCost, Number(hash.slice(4, 6)));
  return { users, unsupported, duplicates, decoyCost };
}
