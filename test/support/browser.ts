// Headless Chromium for the web UI's tests: Debian's chromium driven by playwright-core (no browser download), a
// fresh context for each test, logging in through the form, and guards that fail a test when a page opened a
// dialog (an XSS payload that ran: alert/confirm/prompt), threw, or logged a console error.
// Used by test/registry/ui-browser.test.ts, the screenshot script and the e2e suite (UI through a NodePort).
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';

/** Debian's chromium (test/tools/install.sh installs it); REGOP_CHROMIUM points elsewhere */
export const chromiumPath = process.env.REGOP_CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // as root in a container there is no user namespace for the sandbox; /dev/shm is small there
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

export interface SessionOptions {
  /** the registry's origin, e.g. https://127.0.0.1:23456: page paths (/ui/...) resolve against it */
  baseURL: string;
  /** accept the test CA's certificate (tests serve TLS from a CA the browser does not know) */
  ignoreHTTPSErrors?: boolean;
  viewport?: { width: number; height: number };
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** every dialog any page of this context opened (type and message); each was dismissed */
  dialogs: string[];
  /** uncaught exceptions and console errors of this context's pages */
  errors: string[];
  /** throws when a dialog opened or a page reported an error (except those matching `allowErrors`) */
  assertClean(allowErrors?: RegExp[]): void;
  /** closes the context; then throws as assertClean does */
  close(allowErrors?: RegExp[]): Promise<void>;
}

/** A new browser context (no cookies, no cache) with one page, watched for dialogs and errors. */
export async function openSession(browser: Browser, options: SessionOptions): Promise<BrowserSession> {
  const context = await browser.newContext({
    baseURL: options.baseURL,
    ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? true,
    viewport: options.viewport ?? { width: 1280, height: 800 },
    // nothing a test does may reach past the registry (no internet, CSP forbids it anyway)
    serviceWorkers: 'block',
  });
  const dialogs: string[] = [];
  const errors: string[] = [];
  const watch = (page: Page) => {
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()} (on ${page.url()})`);
      dialog.dismiss().catch(() => undefined);
    });
    page.on('pageerror', (error) => errors.push(`uncaught on ${page.url()}: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const source = message.location().url;
      // the browser asks for /favicon.ico on its own; a page that names no icon gets a 404 for it, no page's fault
      if (new URL(source || page.url()).pathname === '/favicon.ico') return;
      errors.push(`console error on ${page.url()}${source && source !== page.url() ? ` (from ${source})` : ''}: ${message.text()}`);
    });
  };
  context.on('page', watch);
  // a local page answers at once: fail in seconds, not the default 30 s, when an element never comes
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const problems = (allowErrors: RegExp[] = []) => [
    ...dialogs.map((dialog) => `a dialog opened: ${dialog}`),
    ...errors.filter((error) => !allowErrors.some((allowed) => allowed.test(error))),
  ];
  const assertClean = (allowErrors?: RegExp[]) => {
    const found = problems(allowErrors);
    if (found.length) throw new Error(`the browser reported:\n${found.join('\n')}`);
  };
  return {
    context, page, dialogs, errors, assertClean,
    async close(allowErrors) {
      await context.close();
      assertClean(allowErrors);
    },
  };
}

/**
 * Runs `body` with a fresh session and checks it afterwards: a test that passed while a dialog opened fails. On
 * failure the page's URL and visible text are added to the error, so the report shows what the user saw.
 */
export async function withSession<T>(browser: Browser, options: SessionOptions & { allowErrors?: RegExp[] },
  body: (session: BrowserSession) => Promise<T>): Promise<T> {
  const session = await openSession(browser, options);
  let result: T;
  try {
    result = await body(session);
  } catch (error) {
    const seen = await describePage(session.page);
    await session.context.close().catch(() => undefined);
    if (error instanceof Error) {
      const stack = error.stack ?? '';
      error.message += seen;
      error.stack = `${stack}${seen}`;
    }
    throw error;
  }
  await session.close(options.allowErrors);
  return result;
}

async function describePage(page: Page): Promise<string> {
  try {
    const text = await page.locator('body').innerText({ timeout: 1000 });
    return `\n--- page ${page.url()}\n${text.slice(0, 3000)}`;
  } catch {
    return `\n--- page ${page.url()} (no text)`;
  }
}

export interface Credentials {
  name: string;
  password: string;
}

/** The login page's path; the UI redirects there when a session is needed. */
export const loginPath = '/ui/login';

/**
 * Logs in through the form as a user would (labels, not ids), and waits for the page the UI sends the user to.
 * `next` is the path to open first (login redirects back), default the repositories page.
 */
export async function logIn(page: Page, user: Credentials, next = '/ui/'): Promise<Response | null> {
  await page.goto(next);
  if (!new URL(page.url()).pathname.startsWith(loginPath)) await page.goto(loginPath);
  await page.getByLabel(/user/i).fill(user.name);
  await page.getByLabel(/password/i).fill(user.password);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: /log ?in|sign ?in/i }).click(),
  ]);
  return response;
}

/** Logs out with the page's logout button (a CSRF-protected POST form). */
export async function logOut(page: Page): Promise<void> {
  await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: /log ?out|sign ?out/i }).click(),
  ]);
}

/** Elements an XSS payload would have injected into the current page, described for an assertion message. */
export async function injectedElements(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    for (const element of Array.from(document.querySelectorAll('img[src="x"], svg[onload], [onerror], [onload], [onfocus], [onmouseover], [autofocus]'))) {
      found.push(element.outerHTML.slice(0, 200));
    }
    // every script must be a same-origin file (the UI's own ui.js): an inline script or one from elsewhere is injected
    for (const script of Array.from(document.querySelectorAll('script'))) {
      const src = script.getAttribute('src');
      if (!src || new URL(src, location.href).origin !== location.origin || script.textContent?.trim()) found.push(script.outerHTML.slice(0, 200));
    }
    for (const link of Array.from(document.querySelectorAll('a[href]'))) {
      if (/^\s*javascript:/i.test(link.getAttribute('href') ?? '')) found.push(link.outerHTML.slice(0, 200));
    }
    return found;
  });
}
