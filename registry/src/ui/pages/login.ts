// GET /ui/login shows the form; POST /ui/login checks the name and password with the registry's Authenticator
// (the same failed-login counts and lockouts as Basic auth) and sets the session cookie; POST /ui/logout clears it.
import type { FastifyInstance } from 'fastify';
import { html } from 'htm/preact';
import { RegistryError } from '../../errors.ts';
import { ErrorCodes } from '../../errors.ts';
import { frameOf, safeReturnPath, sendHtml, type UiDeps } from '../context.ts';
import { csrfField, renderPage, type Frame } from '../layout.ts';
import { newSession, sealSession, SESSION_COOKIE, SESSION_MAX_AGE_MS } from '../session.ts';
import type { SessionKey } from '../session-key.ts';

/** longer names or passwords are refused before any check (bcrypt reads 72 bytes) */
const MAX_FIELD_LENGTH = 1024;

export interface LoginForm {
  next: string;
  username?: string;
  error?: string;
}

export function loginPage(frame: Frame, form: LoginForm): string {
  const content = frame.viewer.loginEnabled
    ? html`<form class="login" method="post" action="/ui/login">
        <h1>Log in to ${frame.title}</h1>
        ${form.error ? html`<p class="error" role="alert">${form.error}</p>` : null}
        ${csrfField(frame.viewer)}
        <input type="hidden" name="next" value=${form.next} />
        <label for="username">User name
          <input id="username" name="username" type="text" autocomplete="username" required value=${form.username ?? ''} />
        </label>
        <label for="password">Password
          <input id="password" name="password" type="password" autocomplete="current-password" required />
        </label>
        <button id="login" type="submit">Log in</button>
      </form>`
    : html`<h1>No login needed</h1><p>This registry has no users: everyone may browse it. <a href="/ui/">Repositories</a></p>`;
  return renderPage(frame, 'Log in', content);
}

export interface SessionCookies {
  key: SessionKey;
  /** the options every UI cookie is set with (path, HttpOnly, SameSite, Secure) */
  cookieOptions: { path: string; httpOnly: boolean; sameSite: 'strict'; secure: boolean | 'auto' };
}

export function registerLoginRoutes(ui: FastifyInstance, deps: UiDeps, sessions: SessionCookies): void {
  ui.get('/login', async (request, reply) => {
    const next = safeReturnPath((request.query as Record<string, unknown>).next);
    return sendHtml(reply, loginPage(frameOf(deps, request, reply), { next }));
  });

  ui.post('/login', { preHandler: ui.csrfProtection }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, string | undefined>;
    const username = body.username ?? '';
    const password = body.password ?? '';
    const next = safeReturnPath(body.next);
    const refuse = (status: number, error: string) =>
      sendHtml(reply, loginPage(frameOf(deps, request, reply), { next, username: username.slice(0, MAX_FIELD_LENGTH), error }), status);
    if (!deps.services.auth.enabled) return reply.redirect(next, 303);
    if (!username || !password || username.length > MAX_FIELD_LENGTH || password.length > MAX_FIELD_LENGTH) {
      return refuse(400, 'Enter a user name and a password.');
    }
    try {
      await deps.services.auth.authenticatePassword(username, password, request.ip, request);
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error;
      if (error.descriptor === ErrorCodes.TOOMANYREQUESTS) {
        const retryAfter = error.headers['Retry-After'];
        if (retryAfter) reply.header('Retry-After', retryAfter);
        return refuse(429, 'Too many failed logins. Try again later.');
      }
      return refuse(401, 'Invalid user name or password.');
    }
    const version = deps.services.auth.credentialVersion(username);
    if (version === undefined) return refuse(401, 'Invalid user name or password.');
    const cookie = sealSession(newSession(username, Date.now()), await sessions.key.current(), version);
    request.log.info({ user: username }, 'web login');
    void reply.setCookie(SESSION_COOKIE, cookie, { ...sessions.cookieOptions, maxAge: SESSION_MAX_AGE_MS / 1000 });
    return reply.redirect(next, 303);
  });

  ui.post('/logout', { preHandler: ui.csrfProtection }, async (request, reply) => {
    void reply.clearCookie(SESSION_COOKIE, sessions.cookieOptions);
    if (request.uiPrincipal.user) request.log.info({ user: request.uiPrincipal.user }, 'web logout');
    return reply.redirect('/ui/login', 303);
  });
}
