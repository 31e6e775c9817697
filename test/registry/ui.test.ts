// The web UI over HTTP against real registry processes: login and logout with the session cookie's flags, CSRF
// refusals, the shared failed-login lockout, what each user's access rules let them see and delete, the security
// headers, and hostile manifest content rendered as text. (Real-browser tests: ui-browser.test.ts.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { Agent, request } from 'undici';
import { startRegistry, type RunningRegistry, type TestUser } from '../support/registry.ts';
import { clientFor, type Client } from '../support/http.ts';
import { blob, imageManifest, pushBlob, pushImage, pushManifest, randomBlob } from '../support/oci.ts';

const alice: TestUser = { name: 'alice', password: 'alice-secret' };
const bob: TestUser = { name: 'bob', password: 'bob-secret', access: [{ repositories: ['team/**'], actions: ['pull'] }] };
/** the one the lockout test locks out */
const carol: TestUser = { name: 'carol', password: 'carol-secret', access: [{ repositories: ['team/**'], actions: ['pull'] }] };

interface Page {
  status: number;
  headers: Record<string, string>;
  setCookies: string[];
  body: string;
}

/** A browser's part in a conversation with the UI: a cookie jar, forms posted with their CSRF token. */
class BrowserSession {
  readonly cookies = new Map<string, string>();
  private readonly agent: Agent;
  private readonly registry: RunningRegistry;

  constructor(registry: RunningRegistry) {
    this.registry = registry;
    this.agent = new Agent({ connect: registry.caPem ? { ca: registry.caPem } : {} });
  }

  async get(path: string): Promise<Page> {
    return this.send('GET', path);
  }

  /** posts a form; `_csrf` is taken from `from` (a page with a form) unless given */
  async post(path: string, fields: Record<string, string>, from?: Page): Promise<Page> {
    const token = from ? csrfToken(from) : undefined;
    return this.send('POST', path, new URLSearchParams({ ...(token ? { _csrf: token } : {}), ...fields }).toString());
  }

  async login(user: TestUser): Promise<Page> {
    const form = await this.get('/ui/login');
    return this.post('/ui/login', { username: user.name, password: user.password, next: '/ui/' }, form);
  }

  private async send(method: 'GET' | 'POST', path: string, body?: string): Promise<Page> {
    const response = await request(`${this.registry.url}${path}`, {
      method,
      dispatcher: this.agent,
      headers: {
        ...(this.cookies.size ? { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') } : {}),
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body !== undefined ? { body } : {}),
    });
    const raw = response.headers['set-cookie'];
    const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    for (const line of setCookies) {
      const [pair] = line.split(';', 1);
      const [name, value] = [pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1)];
      if (value === '' || /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(response.headers)) if (typeof value === 'string') headers[key] = value;
    return { status: response.statusCode, headers, setCookies, body: await response.body.text() };
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** runs `test` with a fresh browser session, closed afterwards */
async function browsing(registry: RunningRegistry, test: (browser: BrowserSession) => Promise<void>): Promise<void> {
  const browser = new BrowserSession(registry);
  try {
    await test(browser);
  } finally {
    await browser.close();
  }
}

function csrfToken(page: Page): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(page.body);
  assert.ok(match, `no CSRF field in the page:\n${page.body.slice(0, 500)}`);
  return match[1]!;
}

function cookieLine(page: Page, name: string): string {
  const line = page.setCookies.find((entry) => entry.startsWith(`${name}=`));
  assert.ok(line, `no ${name} cookie set; got ${JSON.stringify(page.setCookies)}`);
  return line;
}

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('web UI over TLS with users and access rules', () => {
  let registry: RunningRegistry;
  let admin: Client;
  let hostileDigest: string;

  before(async () => {
    registry = await startRegistry({ tls: true, users: [alice, bob, carol], config: { auth: { maxFailedLogins: 3, lockout: '10m' } } });
    admin = clientFor(registry, alice);
    await pushImage(admin, 'team/app', 'v1');
    const shared = await pushImage(admin, 'team/app', 'v2');
    await pushManifest(admin, 'team/app', 'stable', shared);
    await pushImage(admin, 'secret/db', 'v1');
    // a manifest whose annotations hold markup, a very long value and 10,000 entries
    const config = randomBlob(64);
    const layer = randomBlob(256);
    await pushBlob(admin, 'team/hostile', config);
    await pushBlob(admin, 'team/hostile', layer);
    const annotations: Record<string, string> = {
      'a.script': '<script>alert(1)</script>',
      'a.attribute': '"><img src=x onerror=alert(2)>',
      'a.long': 'x'.repeat(100_000),
    };
    for (let i = 0; i < 10_000; i++) annotations[`z.${String(i).padStart(5, '0')}`] = `value ${i}`;
    const hostile = imageManifest(config, [layer], { annotations });
    await pushManifest(admin, 'team/hostile', 'latest', hostile);
    hostileDigest = hostile.digest;
  });

  after(async () => {
    await admin?.close();
    await registry?.stop();
  });

  it('sends an anonymous visitor to the login page and back to where they were going after it', async () => {
    await browsing(registry, async (browser) => {
      const first = await browser.get('/ui/r/team/app');
      assert.equal(first.status, 303);
      assert.equal(first.headers.location, '/ui/login?next=%2Fui%2Fr%2Fteam%2Fapp');
      const form = await browser.get(first.headers.location!);
      const loggedIn = await browser.post('/ui/login', { username: alice.name, password: alice.password, next: '/ui/r/team/app' }, form);
      assert.equal(loggedIn.status, 303);
      assert.equal(loggedIn.headers.location, '/ui/r/team/app');
    });
  });

  it('logs in into an HttpOnly, SameSite=Strict, Secure cookie on /ui, and logs out', async () => {
    await browsing(registry, async (browser) => {
      const loggedIn = await browser.login(alice);
      assert.equal(loggedIn.status, 303);
      const session = cookieLine(loggedIn, 'regop_session');
      for (const flag of ['HttpOnly', 'SameSite=Strict', 'Secure', 'Path=/ui']) assert.match(session, new RegExp(`; ${flag}`), session);
      assert.ok(!session.includes(alice.password));
      const list = await browser.get('/ui/');
      assert.equal(list.status, 200);
      assert.match(list.body, /<span id="current-user">alice<\/span>/);
      assert.match(list.body, /<a href="\/ui\/r\/team\/app">team\/app<\/a>/);

      const loggedOut = await browser.post('/ui/logout', {}, list);
      assert.equal(loggedOut.status, 303);
      assert.equal(browser.cookies.has('regop_session'), false);
      assert.equal((await browser.get('/ui/')).status, 303, 'after logout the list asks for a login again');
    });
  });

  it('refuses a form posted without its CSRF token, and one with another visitor\'s token', async () => {
    const browser = new BrowserSession(registry);
    const other = new BrowserSession(registry);
    try {
      await browser.get('/ui/login');
      const noToken = await browser.post('/ui/login', { username: alice.name, password: alice.password });
      assert.equal(noToken.status, 403);
      assert.match(noToken.body, /Form expired/);
      assert.equal(browser.cookies.has('regop_session'), false);

      await browser.login(alice);
      const foreignForm = await other.get('/ui/login');
      const foreign = await browser.post('/ui/r/team/app/-/tags/v1/delete', {}, foreignForm);
      assert.equal(foreign.status, 403);
      assert.equal((await admin.send('HEAD', '/v2/team/app/manifests/v1')).status, 200, 'the tag is still there');
    } finally {
      await browser.close();
      await other.close();
    }
  });

  it('shows a user only the repositories they may pull, without delete buttons, and refuses their deletes', async () => {
    await browsing(registry, async (browser) => {
      await browser.login(bob);
      const list = await browser.get('/ui/');
      assert.match(list.body, />team\/app</);
      assert.doesNotMatch(list.body, /secret\/db/);
      assert.equal((await browser.get('/ui/r/secret/db')).status, 404);

      const repository = await browser.get('/ui/r/team/app');
      assert.equal(repository.status, 200);
      assert.match(repository.body, /<table id="tags">/);
      assert.doesNotMatch(repository.body, /Delete/);
      const confirmation = await browser.get('/ui/r/team/app/-/tags/v1/delete');
      assert.equal(confirmation.status, 403);
      const refused = await browser.post('/ui/r/team/app/-/tags/v1/delete', {}, repository);
      assert.equal(refused.status, 403);
      assert.match(refused.body, /You may not delete in team\/app/);
      assert.equal((await admin.send('HEAD', '/v2/team/app/manifests/v1')).status, 200);
    });
  });

  it('lets a user who may delete remove a tag after a confirmation naming the other tags on its image', async () => {
    await browsing(registry, async (browser) => {
      await browser.login(alice);
      const confirmation = await browser.get('/ui/r/team/app/-/tags/v2/delete');
      assert.equal(confirmation.status, 200);
      assert.match(confirmation.body, /<h1>Delete tag v2\?<\/h1>/);
      assert.match(confirmation.body, /<ul id="affected-tags"><li><code>stable<\/code><\/li><\/ul>/);
      const deleted = await browser.post('/ui/r/team/app/-/tags/v2/delete', {}, confirmation);
      assert.equal(deleted.status, 303);
      assert.equal(deleted.headers.location, '/ui/r/team/app?deleted=tag+v2');
      assert.match((await browser.get(deleted.headers.location!)).body, /Deleted tag v2\./);
      assert.equal((await admin.send('HEAD', '/v2/team/app/manifests/v2')).status, 404);
      assert.equal((await admin.send('HEAD', '/v2/team/app/manifests/stable')).status, 200, 'the other tag stays');
    });
  });

  it('deletes a manifest with all its tags after saying which go', async () => {
    await browsing(registry, async (browser) => {
      await browser.login(alice);
      const manifest = await pushImage(admin, 'team/gone', 'a');
      await pushManifest(admin, 'team/gone', 'b', manifest);
      const path = `/ui/r/team/gone/m/${manifest.digest}/delete`;
      const confirmation = await browser.get(path);
      assert.match(confirmation.body, /its 2 tags/);
      assert.match(confirmation.body, /<li><code>a<\/code><\/li><li><code>b<\/code><\/li>/);
      assert.equal((await browser.post(path, {}, confirmation)).status, 303);
      assert.equal((await admin.send('HEAD', `/v2/team/gone/manifests/${manifest.digest}`)).status, 404);
      assert.equal((await admin.send('HEAD', '/v2/team/gone/manifests/a')).status, 404);
    });
  });

  it('locks out the web login after the configured failed logins, as Basic auth does for the same name', async () => {
    const browser = new BrowserSession(registry);
    const victim: TestUser = { name: carol.name, password: 'wrong' };
    try {
      for (let i = 0; i < 3; i++) {
        const failed = await browser.login(victim);
        assert.equal(failed.status, 401);
        assert.match(failed.body, /Invalid user name or password/);
      }
      const locked = await browser.login(carol);
      assert.equal(locked.status, 429);
      assert.match(locked.body, /Too many failed logins/);
      assert.equal(browser.cookies.has('regop_session'), false);
      const basic = clientFor(registry, carol);
      try {
        assert.equal((await basic.send('GET', '/v2/team/app/tags/list')).status, 429, 'Basic auth shares the lockout');
      } finally {
        await basic.close();
      }
    } finally {
      await browser.close();
    }
  });

  it('sends a strict Content-Security-Policy and no-store on every page, and immutable hashed assets', async () => {
    await browsing(registry, async (browser) => {
      const login = await browser.get('/ui/login');
      assert.equal(login.headers['content-security-policy'],
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
      assert.equal(login.headers['x-content-type-options'], 'nosniff');
      assert.equal(login.headers['referrer-policy'], 'same-origin');
      assert.equal(login.headers['cache-control'], 'no-store');
      assert.match((await browser.get('/ui/nothing-here')).headers['content-security-policy'] ?? '', /default-src 'none'/);
      const stylesheet = /href="(\/ui\/assets\/ui\.[0-9a-f]+\.css)"/.exec(login.body)![1]!;
      const css = await browser.get(stylesheet);
      assert.equal(css.status, 200);
      assert.match(css.headers['content-type'] ?? '', /^text\/css/);
      assert.equal(css.headers['cache-control'], 'public, max-age=31536000, immutable');
    });
  });

  it('renders markup in annotations as text, cuts long values and lists, and keeps the page small', async () => {
    await browsing(registry, async (browser) => {
      await browser.login(bob);
      const page = await browser.get(`/ui/r/team/hostile/m/${hostileDigest}`);
      assert.equal(page.status, 200);
      assert.doesNotMatch(page.body, /<script>alert|<img src=x/);
      assert.match(page.body, /&lt;script>alert\(1\)&lt;\/script>/);
      assert.match(page.body, /&quot;>&lt;img src=x onerror=alert\(2\)>/);
      assert.match(page.body, /and 9,803 more annotations/);
      // 200 rows, a 100,000-character value once in full (behind "show all"), the raw JSON cut at 256 KiB
      assert.ok(page.body.length < 700_000, `page is ${page.body.length} bytes`);
      const raw = await browser.get(`/ui/r/team/hostile/m/${hostileDigest}/raw`);
      assert.match(raw.headers['content-type'] ?? '', /^text\/plain/);
      assert.match(raw.headers['content-security-policy'] ?? '', /sandbox/);
      assert.ok(raw.body.includes('"z.09999":"value 9999"'));
    });
  });

  it('ends a session when the user\'s password changes', async () => {
    const browser = new BrowserSession(registry);
    try {
      await browser.login(bob);
      assert.equal((await browser.get('/ui/')).status, 200);
      const lines = [alice, { ...bob, password: 'bob-new-secret' }, carol].map((user) => `${user.name}:${bcrypt.hashSync(user.password, 5)}`);
      writeFileSync(join(registry.workDir, 'htpasswd'), `${lines.join('\n')}\n`);
      await eventually('the session to end after the password change', async () => (await browser.get('/ui/')).status === 303);
    } finally {
      writeFileSync(join(registry.workDir, 'htpasswd'), `${[alice, bob, carol].map((user) => `${user.name}:${bcrypt.hashSync(user.password, 5)}`).join('\n')}\n`);
      await browser.close();
    }
  });
});

describe('web UI with anonymous pull, a title, and a second replica', () => {
  it('lets anonymous visitors browse what anonymous may pull, under the configured title', async () => {
    const registry = await startRegistry({ users: [alice], anonymousPull: true, config: { ui: { title: 'Team <A> images' } } });
    const admin = clientFor(registry, alice);
    const browser = new BrowserSession(registry);
    try {
      await pushImage(admin, 'public/app', 'v1');
      const list = await browser.get('/ui/');
      assert.equal(list.status, 200);
      assert.match(list.body, /<title>Repositories · Team &lt;A> images<\/title>/);
      assert.match(list.body, />public\/app</);
      assert.match(list.body, /<a href="\/ui\/login">Log in<\/a>/);
      const repository = await browser.get('/ui/r/public/app');
      assert.match(repository.body, /<code>podman pull 127\.0\.0\.1:\d+\/public\/app:v1<\/code>/);
      assert.doesNotMatch(repository.body, /Delete/);
    } finally {
      await browser.close();
      await admin.close();
      await registry.stop();
    }
  });

  it('keeps a session valid on another registry process sharing the storage and the users', async () => {
    const first = await startRegistry({ users: [alice], storage: { shared: true } });
    const second = await startRegistry({
      storageDir: first.storageDir, storage: { shared: true }, extraArgs: ['--htpasswd', join(first.workDir, 'htpasswd')],
    });
    const browser = new BrowserSession(first);
    const elsewhere = new BrowserSession(second);
    try {
      await browser.login(alice);
      for (const [name, value] of browser.cookies) elsewhere.cookies.set(name, value);
      const page = await elsewhere.get('/ui/');
      assert.equal(page.status, 200);
      assert.match(page.body, /<span id="current-user">alice<\/span>/);
    } finally {
      await browser.close();
      await elsewhere.close();
      await second.stop();
      await first.stop();
    }
  });

  it('answers 404 under /ui/ when the UI is disabled, and /v2 as before', async () => {
    const registry = await startRegistry({ config: { ui: { enabled: false } } });
    const client = clientFor(registry);
    try {
      assert.equal((await client.send('GET', '/ui/')).status, 404);
      assert.equal((await client.send('GET', '/v2/')).status, 200);
    } finally {
      await client.close();
      await registry.stop();
    }
  });
});
