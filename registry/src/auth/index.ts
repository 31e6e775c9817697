// Authentication (HTTP Basic against htpasswd) and authorization (access rules) for the registry API.
// Without an htpasswd file the registry is open: everyone may do everything (for local use).
import type { Logger } from 'pino';
import { ErrorCodes, registryError } from '../errors.ts';
import { allows, parseAccessRules, type AccessRules, type Action } from './access.ts';
import { parseHtpasswd, PasswordVerifier, type HtpasswdFile } from './htpasswd.ts';
import { FailedLoginLimiter } from './rate-limit.ts';
import { WatchedFile } from './watched-file.ts';

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
}

const ANONYMOUS: Principal = Object.freeze({ user: null });

export class Authenticator {
  readonly enabled: boolean;
  private readonly realm: string;
  private readonly htpasswd: WatchedFile<HtpasswdFile> | undefined;
  private readonly access: WatchedFile<AccessRules> | undefined;
  private readonly anonymousPull: boolean;
  private readonly verifier = new PasswordVerifier();
  private readonly limiter: FailedLoginLimiter;

  private constructor(
    options: AuthOptions, htpasswd: WatchedFile<HtpasswdFile> | undefined, access: WatchedFile<AccessRules> | undefined,
  ) {
    this.enabled = htpasswd !== undefined;
    this.realm = options.realm ?? 'regop';
    this.htpasswd = htpasswd;
    this.access = access;
    this.anonymousPull = options.anonymousPull ?? false;
    this.limiter = new FailedLoginLimiter({
      maxFailures: options.maxFailures ?? 10,
      windowMs: options.windowMs ?? 60_000,
      lockoutMs: options.lockoutMs ?? 60_000,
    });
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
    return new Authenticator(options, htpasswd, access);
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

  async authenticate(authorization: string | undefined, clientAddress: string): Promise<Principal> {
    if (!this.htpasswd) return ANONYMOUS;
    if (!authorization) return ANONYMOUS;
    const lockedFor = this.limiter.lockedFor(clientAddress);
    if (lockedFor > 0) throw this.tooManyRequests('too many failed logins; try again later', lockedFor);
    const credentials = parseBasic(authorization);
    if (!credentials) {
      this.limiter.recordFailure(clientAddress);
      throw this.unauthorized('malformed credentials');
    }
    const { user, password } = credentials;
    const file = this.htpasswd.value;
    const hash = file.users.get(user);
    if (hash && this.verifier.remembers(user, password, hash)) {
      this.limiter.recordSuccess(clientAddress);
      return { user };
    }
    if (!this.limiter.begin(clientAddress)) throw this.tooManyRequests('too many login attempts at once; try again later', 1000);
    try {
      const ok = hash
        ? await this.verifier.verify(user, password, hash)
        : await this.verifier.decoy(password, file.decoyCost);
      if (!ok) {
        this.limiter.recordFailure(clientAddress);
        throw this.unauthorized('invalid username or password');
      }
    } finally {
      this.limiter.end(clientAddress);
    }
    this.limiter.recordSuccess(clientAddress);
    return { user };
  }

  authorize(principal: Principal, repository: string, action: Action): boolean {
    if (!this.enabled) return true;
    if (principal.user === null) return action === 'pull' && this.allowsAnonymousPull();
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

function parseBasic(authorization: string): { user: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(authorization);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const separator = decoded.indexOf(':');
  if (separator <= 0) return undefined;
  return { user: decoded.slice(0, separator), password: decoded.slice(separator + 1) };
}
