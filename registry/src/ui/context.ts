// What every UI route gets: the registry's services, the UI's own helpers, and who is asking (from the session
// cookie, set by the UI scope's request hook in index.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/csrf-protection';
import type { Principal } from '../auth/index.ts';
import type { Services } from '../http/context.ts';
import type { RunHistory } from '../ops/run-history.ts';
import type { Assets } from './assets.ts';
import type { ImageSummaries } from './image-summaries.ts';
import type { Frame } from './layout.ts';
import type { RepositoryStats } from './repository-stats.ts';

export interface UiDeps {
  services: Services;
  title: string;
  assets: Assets;
  stats: RepositoryStats;
  summaries: ImageSummaries;
  runs: RunHistory;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** the UI's caller: anonymous until the session cookie says otherwise */
    uiPrincipal: Principal;
  }
}

export function frameOf(deps: UiDeps, request: FastifyRequest, reply: FastifyReply): Frame {
  return {
    title: deps.title,
    assets: deps.assets,
    viewer: {
      user: request.uiPrincipal.user,
      loginEnabled: deps.services.auth.enabled,
      csrfToken: reply.generateCsrf(),
    },
  };
}

export function sendHtml(reply: FastifyReply, document: string, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(document);
}

/** A path inside the UI to come back to after logging in; anything else (another site, `//host`) is refused. */
export function safeReturnPath(value: unknown): string {
  return typeof value === 'string' && /^\/ui\/(?!\/)/.test(value) && !value.includes('\\') ? value : '/ui/';
}

/**
 * Whether the caller may browse at all (a user, an open registry, or anonymous pull); otherwise the reply is a
 * redirect to the login page that comes back here.
 */
export function mayBrowse(deps: UiDeps, request: FastifyRequest, reply: FastifyReply): boolean {
  if (deps.services.auth.canAccessCatalog(request.uiPrincipal)) return true;
  void reply.redirect(`/ui/login?next=${encodeURIComponent(request.url)}`, 303);
  return false;
}

/** The first value of a query parameter. */
export function queryValue(request: FastifyRequest, key: string): string | undefined {
  const value = (request.query as Record<string, string | string[] | undefined>)[key];
  return Array.isArray(value) ? value[0] : value;
}

/** ?page=N, 1-based; anything else is page 1 */
export function pageNumber(request: FastifyRequest): number {
  const page = Number(queryValue(request, 'page'));
  return Number.isSafeInteger(page) && page >= 1 ? page : 1;
}
