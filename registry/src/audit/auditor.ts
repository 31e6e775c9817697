// The one object every audited place calls, with one line: it stamps the event (id, time, user, client address,
// request id, channel) and hands it to the sinks, the audit log and the webhooks. Recording never throws and never
// waits: a sink that fails is logged, and the request that caused the event goes on as if nothing happened.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { RepositoryStore } from '../content/repository-store.ts';
import { ErrorCodes } from '../errors.ts';
import { toRegistryError } from '../http/error-handler.ts';
import type { AuditAction, AuditChannel, AuditEvent, AuditResult } from './event.ts';

/** Who caused an event: a fastify request fits, and so does what the authenticator knows. */
export interface AuditOrigin {
  /** the request id */
  id?: string;
  /** the client's address */
  ip?: string;
  user?: string | null;
  /** the request's route group: 'ui' and 'admin' name their channel, anything else is the registry API */
  routeGroup?: string;
}

/** What a call site says about an event; the Auditor fills in the rest. */
export interface AuditFields extends Pick<AuditEvent, 'repository' | 'tag' | 'digest' | 'previousDigest' | 'mediaType' | 'size' | 'detail'> {
  action: AuditAction;
  result?: AuditResult;
  /** instead of the origin's user: a login failure names the user that was tried */
  user?: string | null;
}

export interface AuditSink {
  write(event: AuditEvent): void;
  close?(timeoutMs: number): Promise<void> | void;
}

/** A tag, or null when the reference is a digest (the form the spec gives them). */
export function tagOf(reference: string | undefined): string | null {
  return reference && !reference.includes(':') ? reference : null;
}

function channelOf(origin: AuditOrigin | null): AuditChannel {
  return origin?.routeGroup === 'ui' ? 'ui' : origin?.routeGroup === 'admin' ? 'admin' : 'api';
}

/** refusals for want of credentials or rights (a lockout included) are `denied`; anything else is a `failure` */
function outcomeOf(error: unknown): { result: AuditResult; error: { code: string; message: string } } {
  const { error: registryError, unexpected } = toRegistryError(error);
  const { descriptor } = registryError;
  const denied = descriptor === ErrorCodes.UNAUTHORIZED || descriptor === ErrorCodes.DENIED || descriptor === ErrorCodes.TOOMANYREQUESTS;
  // an unexpected error's message may name internals (paths, hosts): the event says what the client was told
  return { result: denied ? 'denied' : 'failure', error: { code: descriptor.code, message: unexpected ? descriptor.message : registryError.message } };
}

export class Auditor {
  private readonly sinks: AuditSink[] = [];
  private readonly expected = new WeakMap<object, AuditFields>();
  private readonly logger: Logger | undefined;

  /** `logger`: where a failing sink is reported */
  constructor(logger?: Logger) {
    this.logger = logger;
  }

  /** Whether events go anywhere; when not, call sites skip the reads that only an event needs. */
  get active(): boolean {
    return this.sinks.length > 0;
  }

  attach(sink: AuditSink): void {
    this.sinks.push(sink);
  }

  record(origin: AuditOrigin | null, fields: AuditFields, failure?: AuditEvent['error']): void {
    if (!this.active) return;
    const { action, result, user, ...rest } = fields;
    const event: AuditEvent = {
      id: randomUUID(),
      time: new Date().toISOString(),
      action,
      result: result ?? 'success',
      user: user !== undefined ? user : origin?.user ?? null,
      clientAddress: origin?.ip ?? null,
      requestId: origin?.id ?? null,
      via: channelOf(origin),
      ...rest,
      ...(failure ? { error: failure } : {}),
    };
    for (const sink of this.sinks) {
      try {
        sink.write(event);
      } catch (error) {
        this.logger?.error({ err: error, action: event.action }, 'writing an audit event failed');
      }
    }
  }

  /**
   * Notes what a request is about to do, before the checks that may refuse it: if it then fails (fastify's
   * onError hook calls `failed`), that attempt is recorded as denied or failed, with what the client was told.
   */
  expect(request: object, fields: AuditFields | null): void {
    if (this.active && fields) this.expected.set(request, fields);
  }

  /** The request turned out not to do what `expect` announced (a mount that became an ordinary upload). */
  forget(request: object): void {
    this.expected.delete(request);
  }

  failed(request: AuditOrigin, error: unknown): void {
    const fields = this.expected.get(request);
    if (!fields) return;
    this.expected.delete(request);
    const outcome = outcomeOf(error);
    this.record(request, { ...fields, result: outcome.result }, outcome.error);
  }

  /** Records a success of what `expect` announced, with what was learnt on the way (a digest, a size). */
  succeeded(request: AuditOrigin & object, fields: Partial<AuditFields> = {}): void {
    const expected = this.expected.get(request);
    if (!expected) return;
    this.expected.delete(request);
    this.record(request, { ...expected, ...fields });
  }

  /**
   * The digest a tag names now, read before a manifest PUT or a tag DELETE changes it (from the tag cache: on
   * shared storage, one stat). Null when there is no such tag; undefined when nothing records events, the reference
   * is a digest, or the read failed (an event is not worth failing a push for).
   */
  async tagTarget(repositories: RepositoryStore, repository: string, reference: string | undefined): Promise<string | null | undefined> {
    const tag = tagOf(reference);
    if (!this.active || tag === null) return undefined;
    try {
      return (await repositories.getTag(repository, tag))?.digest ?? null;
    } catch {
      return undefined;
    }
  }

  /**
   * A manifest PUT: `manifest.push`, and `tag.update` when it created the tag or moved it (`previousDigest` is the
   * digest the tag named before, null for a new tag, left out when unknown; a PUT of the same digest again changes no
   * tag).
   */
  pushed(request: AuditOrigin & object, pushed: { digest: string; mediaType?: string; size: number; previousDigest: string | null | undefined }): void {
    const expected = this.expected.get(request);
    if (!expected) return;
    this.succeeded(request, { digest: pushed.digest, size: pushed.size, ...(pushed.mediaType ? { mediaType: pushed.mediaType } : {}) });
    const { previousDigest } = pushed;
    if (expected.tag !== undefined && previousDigest !== pushed.digest) {
      this.record(request, {
        action: 'tag.update', repository: expected.repository!, tag: expected.tag, digest: pushed.digest,
        ...(previousDigest !== undefined ? { previousDigest } : {}),
      });
    }
  }

  /** Closes the sinks; webhooks get up to `timeoutMs` to deliver what is queued. */
  async close(timeoutMs: number): Promise<void> {
    await Promise.all(this.sinks.map((sink) => sink.close?.(timeoutMs)));
  }
}
