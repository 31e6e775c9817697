// Authentication (HTTP Basic against htpasswd) and authorization (access rules) for the registry API.
// Without an htpasswd file the registry is open: everyone may do everything (for local use).
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditOrigin, Auditor } from '../audit/auditor.ts';
import { ErrorCodes, registryError } from '../errors.ts';
import { allows, parseAccessRules, type AccessRules, type Action } from './access.ts';
import { parseHtpasswd, type HtpasswdFile } from './htpasswd.ts';
import { PasswordChecksBusy, PasswordVerifier } from './password-verifier.ts';
import { FailedLoginLimiter } from './rate-limit.ts';
import { WatchedFile, type LoadFailure } from './watched-file.ts';

export type { Action } from './access.ts';

export interface Principal {
  /** null: anonymous */
  user: string | null;
}

export interface AuthOptions {
  htpasswdFile?: string;
  accessFile?: string;
  /** here or in the access file */
  anonymousPull?: boolean;
  realm?: string;
  maxFailures?: number;
  windowMs?: number;
  lockoutMs?: number;
  reloadIntervalMs?: number;
  /** bcrypt checks at once; more wait in a queue of maxQueuedPasswordChecks, beyond which logins get 429 */
  maxConcurrentPasswordChecks?: number;
  maxQueuedPasswordChecks?: number;
  /** where failed logins and lockouts are recorded */
  audit?: Auditor;
}

export type AuthFileKind = 'htpasswd' | 'access';

/** A file whose current version failed to load, so the previous users or rules are still served. */
export interface StaleAuthFile extends LoadFailure {
  file: AuthFileKind;
}

const ANONYMOUS: Principal = Object.freeze({ user: null });

/**
 * Failed logins are counted per (user name, client address), for every name alike, so one user's failures never
 * lock out another's correct password and a lockout never tells whether a name exists. Failures for names that do
 * not exist are also counted per address: past the limit their password checks are only pretended (same wait, no
 * CPU), so an address spraying made-up names cannot keep the bcrypt threads busy.
 */
export class Authenticator {
  readonly enabled: boolean;
  private readonly realm: string;
  private readonly htpasswd: WatchedFile<HtpasswdFile> | undefined;
  private readonly access: WatchedFile<AccessRules> | undefined;
  private readonly anonymousPull: boolean;
  private readonly verifier: PasswordVerifier;
  private readonly failures: FailedLoginLimiter;
  private readonly unknownNameFailures: FailedLoginLimiter;
  private readonly logger: Logger;
  private readonly audit: Auditor | undefined;

  private constructor(
    options: AuthOptions, logger: Logger,
    htpasswd: WatchedFile<HtpasswdFile> | undefined, access: WatchedFile<AccessRules> | undefined,
  ) {
    this.enabled = htpasswd !== undefined;
    this.realm = options.realm ?? 'regop';
    this.htpasswd = htpasswd;
    this.access = access;
    this.anonymousPull = options.anonymousPull ?? false;
    this.logger = logger;
    this.audit = options.audit;
    this.verifier = new PasswordVerifier({
      ...(options.maxConcurrentPasswordChecks !== undefined ? { maxConcurrentChecks: options.maxConcurrentPasswordChecks } : {}),
      ...(options.maxQueuedPasswordChecks !== undefined ? { maxQueuedChecks: options.maxQueuedPasswordChecks } : {}),
    });
    const limits = {
      maxFailures: options.maxFailures ?? 10,
      windowMs: options.windowMs ?? 60_000,
      lockoutMs: options.lockoutMs ?? 60_000,
    };
    this.failures = new FailedLoginLimiter(limits);
    this.unknownNameFailures = new FailedLoginLimiter(limits);
  }

  /** Reads the files once (throwing when one is missing or invalid), then polls them for changes. */
  static async create(options: AuthOptions, logger: Logger): Promise<Authenticator> {
    const intervalMs = options.reloadIntervalMs ?? 2000;
    // names users, never their hashes
    const reportEntries = (file: HtpasswdFile) => {
      for (const user of file.unsupported) {
        logger.warn({ user }, 'htpasswd entry is not bcrypt ($2y$, $2a$, $2b$; use htpasswd -B); that user cannot log in');
      }
      for (const user of file.duplicates) logger.warn({ user }, 'htpasswd lists the user again; the first entry counts');
    };
    const htpasswd = options.htpasswdFile
      ? await WatchedFile.open({
        path: options.htpasswdFile,
        parse: parseHtpasswd,
        intervalMs,
        onReload: (file) => {
          logger.info({ users: file.users.size }, 'htpasswd reloaded');
          reportEntries(file);
        },
        onError: (error) => logger.error({ reason: error.message }, 'htpasswd not reloaded; keeping the previous users'),
      })
      : undefined;
    if (htpasswd) reportEntries(htpasswd.value);
    const access = options.accessFile
      ? await WatchedFile.open({
        path: options.accessFile,
        parse: parseAccessRules,
        intervalMs,
        onReload: (rules) => logger.info({ users: rules.users.size }, 'access rules reloaded'),
        onError: (error) => logger.error({ reason: error.message }, 'access rules not reloaded; keeping the previous rules'),
      }).catch((error: unknown) => {
        htpasswd?.close();
        throw error;
      })
      : undefined;
    if (access && !htpasswd) logger.warn('an access file without an htpasswd file has no effect: the registry is open');
    return new Authenticator(options, logger, htpasswd, access);
  }

  challenge(): string {
    return `Basic realm="${this.realm.replace(/["\\]/g, '\\$&')}"`;
  }

  private unauthorized(message: string) {
    return registryError(ErrorCodes.UNAUTHORIZED, message, null, { 'WWW-Authenticate': this.challenge() });
  }

  private tooManyRequests(message: string, waitMs: number) {
    return registryError(ErrorCodes.TOOMANYREQUESTS, message, null, {
      'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))),
    });
  }

  /** `origin`: the request, for the audit events of a failed login */
  async authenticate(authorization: string | undefined, clientAddress: string, origin?: AuditOrigin): Promise<Principal> {
    if (!this.htpasswd) return ANONYMOUS;
    if (!authorization) return ANONYMOUS;
    const credentials = parseBasic(authorization);
    if (!credentials) {
      // no name to count against: it counts with the made-up names, which can lock out no real user
      this.unknownNameFailures.recordFailure(clientAddress);
      this.logger.info({ remote: clientAddress }, 'failed login: malformed credentials');
      this.audit?.record(origin ?? { ip: clientAddress }, { action: 'login', result: 'failure', user: null, detail: { reason: 'malformed credentials' } });
      throw this.unauthorized('malformed credentials');
    }
    return this.authenticatePassword(credentials.user, credentials.password, clientAddress, origin);
  }

  /**
   * A name and password from elsewhere than a Basic header (the web UI's login form), checked exactly as Basic
   * auth is: the same failed-login counts, lockouts and password-check queue. Throws UNAUTHORIZED or TOOMANYREQUESTS.
   */
  async authenticatePassword(user: string, password: string, clientAddress: string, origin?: AuditOrigin): Promise<Principal> {
    if (!this.htpasswd) return ANONYMOUS;
    const key = failureKey(user, clientAddress);
    const lockedFor = this.failures.lockedFor(key);
    if (lockedFor > 0) throw this.tooManyRequests('too many failed logins; try again later', lockedFor);
    const file = this.htpasswd.value;
    const hash = file.users.get(user);
    if (hash && this.verifier.remembers(user, password, hash)) {
      this.failures.recordSuccess(key);
      return { user };
    }
    if (!this.failures.begin(key)) throw this.tooManyRequests('too many login attempts at once; try again later', 1000);
    try {
      let ok: boolean;
      try {
        ok = hash ? await this.verifier.verify(user, password, hash) : await this.decoy(password, file.decoyCost, clientAddress);
      } catch (error) {
        if (!(error instanceof PasswordChecksBusy)) throw error;
        this.logger.warn({ user, remote: clientAddress, ...this.verifier.load }, 'login refused: too many password checks waiting');
        throw this.tooManyRequests('too many logins being checked; try again shortly', 1000);
      }
      if (!ok) {
        this.recordFailure(user, clientAddress, hash !== undefined, origin ?? { ip: clientAddress });
        throw this.unauthorized('invalid username or password');
      }
    } finally {
      this.failures.end(key);
    }
    this.failures.recordSuccess(key);
    return { user };
  }

  private decoy(password: string, cost: number, clientAddress: string): Promise<false> {
    return this.unknownNameFailures.lockedFor(clientAddress) > 0 ? this.verifier.pretend() : this.verifier.decoy(password, cost);
  }

  // user names are logged (an operator needs them to tell an attack from a typo); passwords never
  private recordFailure(user: string, clientAddress: string, known: boolean, origin: AuditOrigin): void {
    const lockoutSeconds = Math.round(this.failures.lockoutMs / 1000);
    this.logger.info({ user, remote: clientAddress }, known ? 'failed login: wrong password' : 'failed login: no such user');
    this.audit?.record(origin, { action: 'login', result: 'failure', user, detail: { reason: known ? 'wrong password' : 'no such user' } });
    if (this.failures.recordFailure(failureKey(user, clientAddress))) {
      this.logger.warn({ user, remote: clientAddress, lockoutSeconds }, 'login locked out: too many failed logins for this user from this address');
      this.audit?.record(origin, { action: 'lockout', result: 'denied', user, detail: { scope: 'user', lockoutSeconds } });
    }
    if (!known && this.unknownNameFailures.recordFailure(clientAddress)) {
      this.logger.warn({ remote: clientAddress, lockoutSeconds },
        'too many failed logins for users that do not exist from this address; their password checks are skipped for the lockout');
      this.audit?.record(origin, { action: 'lockout', result: 'denied', user: null, detail: { scope: 'unknown users from this address', lockoutSeconds } });
    }
  }

  /**
   * A digest of the user's current htpasswd entry, undefined when the user is gone: a web session signs it, so a
   * changed password or a removed user ends the sessions. A digest, so the entry itself never leaves this class.
   */
  credentialVersion(user: string): string | undefined {
    const hash = this.htpasswd?.value.users.get(user);
    return hash === undefined ? undefined : createHash('sha256').update(`${user}\u0000${hash}`).digest('base64url');
  }

  /** The auth files that failed to load while the previous version is served; empty when all is current. */
  staleFiles(): StaleAuthFile[] {
    const stale: StaleAuthFile[] = [];
    const htpasswd = this.htpasswd?.loadFailure;
    if (htpasswd) stale.push({ file: 'htpasswd', ...htpasswd });
    const access = this.access?.loadFailure;
    if (access) stale.push({ file: 'access', ...access });
    return stale;
  }

  /** one line per stale file, for the readiness detail; names the path and the problem, never the content */
  staleReport(): string[] {
    return this.staleFiles().map(({ file, since, message }) =>
      `auth: ${file} file failed to load at ${since.toISOString()}: ${message}; serving the previous ${file === 'htpasswd' ? 'users' : 'rules'}`);
  }

  authorize(principal: Principal, repository: string, action: Action): boolean {
    if (!this.enabled) return true;
    // logging in never takes away what an anonymous caller may do
    if (action === 'pull' && this.allowsAnonymousPull()) return true;
    if (principal.user === null) return false;
    if (!this.access) return true;
    return allows(this.access.value, principal.user, repository, action);
  }

  requireAuthorization(principal: Principal, repository: string, actions: Action[]): void {
    for (const action of actions) {
      if (this.authorize(principal, repository, action)) continue;
      if (principal.user === null) throw this.unauthorized('authentication required');
      throw registryError(ErrorCodes.DENIED, `user may not ${action} ${repository}`, { repository, action });
    }
  }

  canAccessCatalog(principal: Principal): boolean {
    return !this.enabled || principal.user !== null || this.allowsAnonymousPull();
  }

  private allowsAnonymousPull(): boolean {
    return this.anonymousPull || (this.access?.value.anonymousPull ?? false);
  }

  close(): void {
    this.htpasswd?.close();
    this.access?.close();
  }
}

// an address never holds a NUL, so a key splits at its last one: distinct (user, address) pairs never share a key
function failureKey(user: string, clientAddress: string): string {
  return `${user}\u0000${clientAddress}`;
}

function parseBasic(authorization: string): { user: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(authorization);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const separator = decoded.indexOf(':');
  if (separator <= 0) return undefined;
  return { user: decoded.slice(0, separator), password: decoded.slice(separator + 1) };
}
