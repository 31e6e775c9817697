// What an audit event says: one record per push, tag change, delete, mount, failed login, lockout and maintenance
// run, written to the audit stream and sent to webhooks as the `data` of a CloudEvent. The action names are the
// words of the config file's `events` filter, so they are listed once, here.

/** Every action the registry audits, with the CloudEvents type suffix of its successful outcome. */
const ACTIONS = {
  /** a manifest PUT (by tag or by digest) */
  'manifest.push': 'manifest.pushed',
  /** a manifest PUT by tag that created the tag or moved it to another digest */
  'tag.update': 'tag.updated',
  /** DELETE of a manifest by digest (its tags go with it), through the API or the web UI */
  'manifest.delete': 'manifest.deleted',
  /** DELETE of a manifest by tag: the tag goes, the manifest stays */
  'tag.delete': 'tag.deleted',
  /** DELETE of a blob's link in one repository */
  'blob.delete': 'blob.deleted',
  /** a cross-repository mount (POST ?mount=&from=) that linked the blob */
  'blob.mount': 'blob.mounted',
  /** a password that did not match, a user that does not exist, malformed credentials (only failures are audited) */
  'login': 'login.failed',
  /** a (user name, client address) pair locked out after too many failed logins */
  'lockout': 'login.lockedout',
  /** a garbage collection through the admin API */
  'gc': 'gc.completed',
  /** a retention run through the admin API */
  'retention': 'retention.completed',
  /** a backup through the admin API */
  'backup': 'backup.completed',
  /** a restore into the serving registry through the admin API */
  'restore': 'restore.completed',
} as const;

export type AuditAction = keyof typeof ACTIONS;
export const AUDIT_ACTIONS = Object.freeze(Object.keys(ACTIONS) as AuditAction[]);

export function isAuditAction(value: unknown): value is AuditAction {
  return typeof value === 'string' && Object.hasOwn(ACTIONS, value);
}

/**
 * `success`: done. `denied`: refused for want of credentials or rights (401, 403, a wrong admin token).
 * `failure`: anything else that stopped it (an unknown manifest, a bad body, a storage error).
 */
export type AuditResult = 'success' | 'failure' | 'denied';

/** where the action came in: the registry API, the web UI, the admin API */
export type AuditChannel = 'api' | 'ui' | 'admin';

export interface AuditEvent {
  /** unique per event (a UUID); the CloudEvent's id */
  id: string;
  /** ISO 8601, when the registry recorded it (after the action finished) */
  time: string;
  action: AuditAction;
  result: AuditResult;
  /** the authenticated user; null for anonymous callers. For `login` and `lockout`: the name that was tried */
  user: string | null;
  /** the client's address (X-Forwarded-For only through auth.trustedProxies) */
  clientAddress: string | null;
  /** the id of the request in the registry's own log lines (`reqId`) */
  requestId: string | null;
  via: AuditChannel;
  repository?: string;
  tag?: string;
  digest?: string;
  /** tag.update: the digest the tag named before (null: the tag was created) */
  previousDigest?: string | null;
  mediaType?: string;
  size?: number;
  /** failure and denied: the registry's error code and message, as the client got them */
  error?: { code: string; message: string };
  /** action-specific: a mount's source repository, a login failure's reason, a GC's or retention's summary */
  detail?: Record<string, unknown>;
}

/**
 * The CloudEvents `type` of an event: `dev.regop.registry.manifest.pushed` when it succeeded, and
 * `dev.regop.registry.manifest.push.denied` / `….failed` when it did not, so a receiver that acts on pushes by type
 * never mistakes a refused one for a push. Login and lockout events are failures by nature and keep their name.
 */
export function cloudEventType(action: AuditAction, result: AuditResult): string {
  const name = result === 'success' || action === 'login' || action === 'lockout'
    ? ACTIONS[action]
    : `${action}.${result === 'denied' ? 'denied' : 'failed'}`;
  return `dev.regop.registry.${name}`;
}

/** The CloudEvents `subject`: what the event is about, e.g. `team/app:v1` or `team/app@sha256:…`. */
export function subjectOf(event: AuditEvent): string | undefined {
  if (!event.repository) return undefined;
  if (event.tag) return `${event.repository}:${event.tag}`;
  if (event.digest) return `${event.repository}@${event.digest}`;
  return event.repository;
}
