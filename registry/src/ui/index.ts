// The web UI: server-rendered pages under /ui/ on the API listener, in a fastify scope of its own, so its cookie,
// CSRF and form-body handling never touch /v2 (whose bodies stay streamed by the registry's handlers).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyCookie, { sign, unsign } from '@fastify/cookie';
import fastifyCsrfProtection from '@fastify/csrf-protection';
import type { Logger } from 'pino';
import type { Principal } from '../auth/index.ts';
import { RegistryError } from '../errors.ts';
import type { Services } from '../http/context.ts';
import type { RunHistory } from '../ops/run-history.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { loadAssets, registerAssetRoutes } from './assets.ts';
import { frameOf, sendHtml, type UiDeps } from './context.ts';
import { ImageSummaries } from './image-summaries.ts';
import { errorPage } from './pages/error.ts';
import { registerLoginRoutes, type SessionCookies } from './pages/login.ts';
import { registerRepositoryListRoutes } from './pages/repositories.ts';
import { RepositoryStats } from './repository-stats.ts';
import { registerRepositoryRoutes } from './repository-routes.ts';
import { registerStorageRoutes } from './pages/storage.ts';
import { CSRF_COOKIE, derivedKey, openSession, SESSION_COOKIE } from './session.ts';
import { SessionKey } from './session-key.ts';

export interface UiOptions {
  title: string;
  /** where the session key lives, shared by replicas */
  storage: StorageDriver;
  runs: RunHistory;
  logger: Logger;
}

/** the headers of every UI response; the CSP allows only the UI's own files, and no inline script or style */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};
/** a form body holds a few short fields */
const FORM_BODY_LIMIT = 16 * 1024;
const ANONYMOUS: Principal = Object.freeze({ user: null });

export async function registerUi(app: FastifyInstance, services: Services, options: UiOptions): Promise<void> {
  const assets = loadAssets();
  const deps: UiDeps = {
    services,
    title: options.title,
    assets,
    stats: new RepositoryStats(services.repositories, services.blobs),
    summaries: new ImageSummaries(services.blobs, services.repositories),
    runs: options.runs,
  };
  const key = new SessionKey(options.storage, options.logger.child({ component: 'ui' }));
  const csrfKey = () => derivedKey(key.loaded, 'csrf');
  const sessions: SessionCookies = {
    key,
    // Secure whenever the request came over TLS (here, or at a proxy trusted for X-Forwarded-Proto)
    cookieOptions: { path: '/ui', httpOnly: true, sameSite: 'strict', secure: 'auto' },
  };

  await app.register(async (ui) => {
    ui.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    // set by the onRequest hook below before any handler runs (fastify takes no object as a request default)
    ui.decorateRequest('uiPrincipal', null as unknown as Principal);
    // the CSRF secret's cookie is signed too: a sibling subdomain could set one, but not sign it (cookie tossing)
    await ui.register(fastifyCookie, { secret: { sign: (value) => sign(value, csrfKey()), unsign: (value) => unsign(value, csrfKey()) } });
    await ui.register(fastifyCsrfProtection, {
      cookieKey: CSRF_COOKIE,
      cookieOpts: { ...sessions.cookieOptions, signed: true },
      // only the form field: no header is ever sent by these pages
      getToken: (request) => (request.body as Record<string, string> | undefined)?._csrf,
    });

    ui.addHook('onRequest', async (request) => {
      request.routeGroup = 'ui';
      await key.current();
      request.uiPrincipal = await principalOf(request, services, key);
      request.user = request.uiPrincipal.user;
    });
    ui.addHook('onSend', async (_request, reply, payload) => {
      // a route may set a stricter one (the raw manifest: a sandbox)
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(name)) reply.header(name, value);
      if (!reply.hasHeader('Cache-Control')) reply.header('Cache-Control', 'no-store');
      return payload;
    });
    ui.setErrorHandler((error: FastifyError, request, reply) => sendError(deps, error, request, reply));
    ui.setNotFoundHandler((request, reply) =>
      sendHtml(reply, errorPage(frameOf(deps, request, reply), 'Not found', 'There is no page here.'), 404));

    ui.get('', { prefixTrailingSlash: 'no-slash' }, async (_request, reply) => reply.redirect('/ui/', 301));
    registerAssetRoutes(ui, assets);
    registerLoginRoutes(ui, deps, sessions);
    registerRepositoryListRoutes(ui, deps);
    registerRepositoryRoutes(ui, deps);
    registerStorageRoutes(ui, deps);
  }, { prefix: '/ui' });
}

async function principalOf(request: FastifyRequest, services: Services, key: SessionKey): Promise<Principal> {
  const cookie = request.cookies[SESSION_COOKIE];
  if (!cookie || !services.auth.enabled) return ANONYMOUS;
  const versionOf = (user: string) => services.auth.credentialVersion(user);
  let session = openSession(cookie, key.loaded, versionOf, Date.now());
  // another replica may have replaced the key in a start-up race: read it again and retry once
  if (!session && await key.reloadIfStale()) session = openSession(cookie, key.loaded, versionOf, Date.now());
  return session ? { user: session.user } : ANONYMOUS;
}

function sendError(deps: UiDeps, error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = error instanceof RegistryError ? error.httpStatus : error.statusCode ?? 500;
  const frame = () => frameOf(deps, request, reply);
  if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
    return sendHtml(reply, errorPage(frame(), 'Form expired',
      'This form has expired or did not come from this site. Go back, reload the page and try again.'), 403);
  }
  if (status >= 500) {
    request.log.error({ err: error }, 'web UI request failed');
    return sendHtml(reply, errorPage(frame(), 'Something went wrong', 'The registry could not show this page; the error is in its log.'), 500);
  }
  return sendHtml(reply, errorPage(frame(), 'Request refused', error.message), status);
}
