// The web UI in a real browser (headless Debian chromium through playwright-core), against a registry process that
// real clients filled (test/support/ui-fixtures.ts): what a user sees and can do, each test in a fresh context, and
// none of them may open a dialog (an XSS payload that ran) or log a page error.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { injectedElements, launchBrowser, logIn, logOut, loginPath, withSession, type BrowserSession } from '../support/browser.ts';
import { adminUser, startUiRegistry, viewerUser, xssPayloads, SBOM_TYPE, SIGNATURE_TYPE, type UiRegistry } from '../support/ui-fixtures.ts';
import { clientFor } from '../support/http.ts';

const TAG_COUNT = 10_000;
/** rows on one page of a listing (the design's page size) */
const PAGE_SIZE = 50;

let ui: UiRegistry;
let browser: Browser;

before(async () => {
  [ui, browser] = await Promise.all([startUiRegistry({ hostile: true, manyTags: TAG_COUNT }), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await ui?.stop();
});

/** a test body in a fresh browser context on the registry; the registry's log tail is added when it fails */
async function inBrowser<T>(body: (session: BrowserSession) => Promise<T>, allowErrors?: RegExp[]): Promise<T> {
  try {
    return await withSession(browser, { baseURL: ui.registry.url, ...(allowErrors ? { allowErrors } : {}) }, body);
  } catch (error) {
    if (error instanceof Error) error.message += `\n--- registry log (tail)\n${ui.registry.logs().slice(-6000)}`;
    throw error;
  }
}

/** a refused request shows up as a console error ("Failed to load resource: ... 403"), which those tests expect */
const refusedResource = /Failed to load resource: the server responded with a status of 4(01|03|04|29)/;

const short = (digest: string) => digest.slice('sha256:'.length, 'sha256:'.length + 12);
const mainText = (page: Page) => page.locator('main').innerText();

/** the tags the registry lists for a repository (through the API, as admin) */
async function tagsOf(repository: string): Promise<string[]> {
  const client = clientFor(ui.registry, adminUser);
  try {
    const response = await client.send('GET', `/v2/${repository}/tags/list?n=20000`);
    return (response.json() as { tags?: string[] }).tags ?? [];
  } finally {
    await client.close();
  }
}

/** the CSRF token the page's own forms carry (the logout form is on every page of a logged-in user) */
async function csrfTokenOf(page: Page): Promise<string> {
  const token = await page.locator('input[name="_csrf"]').first().getAttribute('value');
  assert.ok(token, 'the page carries a CSRF token in its forms');
  return token;
}

describe('web UI in a browser', () => {
  it('a user logs in through the form and sees the repositories', () => inBrowser(async ({ page }) => {
    await page.goto('/ui/');
    assert.equal(new URL(page.url()).pathname, loginPath, 'without a session the UI asks to log in');
    await logIn(page, adminUser);
    assert.equal(new URL(page.url()).pathname, '/ui/');
    const text = await mainText(page);
    for (const repository of ['demo/app', 'demo/deletable', ...ui.content.searchable]) assert.match(text, new RegExp(repository), `${repository} is listed`);
    assert.match(await page.locator('header').innerText(), new RegExp(adminUser.name), 'the header names who is logged in');
  }));

  it('a wrong password keeps the user on the login page with a message', () => inBrowser(async ({ page, context }) => {
    await logIn(page, { name: adminUser.name, password: 'not-the-password' });
    assert.equal(new URL(page.url()).pathname, loginPath);
    assert.match(await page.locator('body').innerText(), /invalid|incorrect|wrong|failed/i);
    assert.deepEqual((await context.cookies()).filter((cookie) => cookie.name === 'regop_session' && cookie.value), [], 'no session cookie');
  }, [refusedResource]));

  it('finds a repository by searching for a part of its name', () => inBrowser(async ({ page }) => {
    await logIn(page, viewerUser);
    const search = page.getByRole('searchbox').or(page.getByLabel(/search/i)).first();
    await search.fill('api');
    await search.press('Enter');
    await page.waitForURL(/[?&]q=api/);
    const text = await mainText(page);
    assert.match(text, /team-a\/payments-api/);
    assert.match(text, /team-b\/catalog-api/);
    assert.doesNotMatch(text, /tools\/debug-shell/, 'a repository without "api" in its name is not listed');
    assert.doesNotMatch(text, /demo\/app\b/);
    await page.getByRole('link', { name: 'team-b/catalog-api' }).click();
    await page.waitForURL(/\/ui\/r\/team-b\/catalog-api/);
    assert.match(await mainText(page), /1\.0/, 'the repository page lists its tag');
  }));

  it('opens the multi-platform image and sees each platform with its layers', () => inBrowser(async ({ page }) => {
    const { repository, tag, digest, platforms } = ui.content.multiPlatform;
    await logIn(page, viewerUser, `/ui/r/${repository}`);
    const row = page.getByRole('row').filter({ hasText: tag }).first();
    assert.match(await row.innerText(), /linux\/amd64/, 'the tag row names the platforms');
    assert.match(await row.innerText(), /linux\/arm64/);
    await row.getByRole('link', { name: tag, exact: true }).click();
    await page.waitForURL(new RegExp(`/ui/r/${repository}/m/${digest}`));
    for (const platform of platforms) {
      const name = `${platform.os}/${platform.architecture}`;
      await page.goto(`/ui/r/${repository}/m/${digest}`);
      await page.getByRole('link', { name: new RegExp(name) }).first().click();
      await page.waitForURL(new RegExp(`/m/${platform.digest}`));
      const text = await mainText(page);
      assert.match(text, new RegExp(platform.architecture), `the ${name} page names its architecture`);
      for (const layer of platform.layers) assert.match(text, new RegExp(short(layer)), `${name} shows its layer ${layer}`);
      for (const other of platforms.filter((p) => p !== platform)) {
        for (const layer of other.layers) assert.doesNotMatch(text, new RegExp(short(layer)), `${name} does not show ${other.architecture}'s layer`);
      }
    }
  }));

  it('sees the signature and the SBOM that oras attached, as referrers by artifact type', () => inBrowser(async ({ page }) => {
    const { repository, digest } = ui.content.multiPlatform;
    await logIn(page, viewerUser, `/ui/r/${repository}/m/${digest}`);
    const text = await mainText(page);
    assert.ok(text.includes(SIGNATURE_TYPE), 'the signature\'s artifact type is shown');
    assert.ok(text.includes(SBOM_TYPE), 'the SBOM\'s artifact type is shown');
    for (const referrer of ui.content.referrers) {
      const link = page.locator(`a[href*="${referrer.digest}"]`).first();
      assert.ok(await link.count(), `the referrer ${referrer.digest} (${referrer.artifactType}) is linked`);
    }
    // a referrer's page leads back to what it refers to
    await page.locator(`a[href*="${ui.content.referrers[0]!.digest}"]`).first().click();
    await page.waitForURL(new RegExp(ui.content.referrers[0]!.digest));
    assert.ok((await mainText(page)).includes(short(digest)), 'the referrer\'s page names its subject');
  }));

  it('a user who may delete deletes a tag after a confirmation naming the other tags on its digest', () => inBrowser(async ({ page }) => {
    const { repository, tag, sameDigestTag, otherTag } = ui.content.deletable;
    await logIn(page, adminUser, `/ui/r/${repository}`);
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: tag, exact: true }) });
    await row.getByRole('link', { name: /delete/i }).or(row.getByRole('button', { name: /delete/i })).first().click();
    await page.waitForURL(new RegExp(`/-/tags/${tag}/delete`));
    const confirmation = await mainText(page);
    assert.ok(confirmation.includes(sameDigestTag), `the confirmation says that ${sameDigestTag} shares the digest`);
    assert.deepEqual((await tagsOf(repository)).sort(), [sameDigestTag, otherTag, tag].sort(), 'nothing is deleted before the confirmation');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: /delete/i }).click()]);
    assert.deepEqual((await tagsOf(repository)).sort(), [sameDigestTag, otherTag].sort(), 'the tag is gone; the other tags stay');
    await page.goto(`/ui/r/${repository}`);
    const tags = await page.getByRole('row').allInnerTexts();
    assert.ok(!tags.some((text) => new RegExp(`^\\s*${tag}\\b`).test(text)), 'the repository page no longer lists the tag');
  }));

  it('a user who may only pull sees no delete button, and a forged delete is refused', () => inBrowser(async ({ page }) => {
    const { repository, otherTag } = ui.content.deletable;
    await logIn(page, viewerUser, `/ui/r/${repository}`);
    assert.equal(await page.getByRole('button', { name: /delete/i }).count(), 0, 'no delete button');
    assert.equal(await page.getByRole('link', { name: /delete/i }).count(), 0, 'no delete link');
    // the confirmation page itself is refused
    const confirmation = await page.goto(`/ui/r/${repository}/-/tags/${otherTag}/delete`);
    assert.equal(confirmation?.status(), 403);
    // a POST with the viewer's own valid CSRF token: authorization, not only CSRF, refuses it
    await page.goto(`/ui/r/${repository}`);
    const token = await csrfTokenOf(page);
    const forged = await page.request.post(`/ui/r/${repository}/-/tags/${otherTag}/delete`, { form: { _csrf: token }, maxRedirects: 0 });
    assert.equal(forged.status(), 403, 'the POST is refused');
    assert.ok((await tagsOf(repository)).includes(otherTag), 'the tag is still there');
    // the same for the manifest behind the tag: no link on its page, and its delete POST is refused
    const { digest } = ui.content.deletable;
    await page.goto(`/ui/r/${repository}/m/${digest}`);
    assert.equal(await page.getByRole('link', { name: /delete/i }).count(), 0, 'no delete link on the image page');
    const forgedManifest = await page.request.post(`/ui/r/${repository}/m/${digest}/delete`, { form: { _csrf: token }, maxRedirects: 0 });
    assert.equal(forgedManifest.status(), 403, 'the manifest delete POST is refused');
    assert.ok((await tagsOf(repository)).includes(ui.content.deletable.sameDigestTag), 'the manifest and its tags are still there');
  }, [refusedResource]));

  it('a delete without the CSRF token is refused even for a user who may delete', () => inBrowser(async ({ page }) => {
    const { repository, otherTag } = ui.content.deletable;
    await logIn(page, adminUser, `/ui/r/${repository}`);
    const forged = await page.request.post(`/ui/r/${repository}/-/tags/${otherTag}/delete`, { form: { confirm: 'yes' }, maxRedirects: 0 });
    assert.equal(forged.status(), 403);
    assert.ok((await tagsOf(repository)).includes(otherTag), 'the tag is still there');
  }));

  it('logging out ends the session: pages redirect to the login page', () => inBrowser(async ({ page }) => {
    const { repository, digest } = ui.content.multiPlatform;
    await logIn(page, viewerUser, `/ui/r/${repository}`);
    await logOut(page);
    for (const path of ['/ui/', `/ui/r/${repository}`, `/ui/r/${repository}/m/${digest}`, '/ui/storage']) {
      await page.goto(path);
      assert.equal(new URL(page.url()).pathname, loginPath, `${path} asks to log in again`);
    }
    assert.equal(await page.getByRole('button', { name: /log ?out/i }).count(), 0);
  }));

  it('XSS attempts in labels, env, entrypoint, author and annotations render as text and never run', () => inBrowser(async ({ page, dialogs }) => {
    const hostile = ui.content.hostile!;
    await logIn(page, adminUser, `/ui/r/${hostile.repository}`);
    const pages = [
      `/ui/?q=hostile`,
      `/ui/r/${hostile.repository}`,
      `/ui/r/${hostile.repository}/m/${hostile.digest}`,
      `/ui/r/${hostile.repository}/m/${hostile.artifactDigest}`,
      `/ui/r/${hostile.repository}/m/${hostile.manyAnnotationsDigest}`,
      `/ui/r/${hostile.repository}/-/tags/${hostile.tag}/delete`,
    ];
    for (const path of pages) {
      const response = await page.goto(path);
      assert.equal(response?.status(), 200, path);
      // give an injected handler (onerror, onload, autofocus/onfocus) its chance to run
      await page.waitForLoadState('load');
      await page.locator('body').hover();
      assert.deepEqual(await injectedElements(page), [], `no injected element on ${path}`);
      assert.deepEqual(dialogs, [], `no dialog on ${path}`);
    }
    // the payloads are shown, as text
    await page.goto(`/ui/r/${hostile.repository}/m/${hostile.digest}`);
    const imagePage = await mainText(page);
    assert.ok(imagePage.includes(xssPayloads.img), 'the label value is shown as text');
    assert.ok(imagePage.includes(xssPayloads.script), 'the script payload is shown as text');
    await page.goto(`/ui/r/${hostile.repository}/m/${hostile.artifactDigest}`);
    assert.ok((await mainText(page)).includes(xssPayloads.attribute), 'the annotation value is shown as text');
    // ten thousand annotations: a bounded number listed, the rest said
    await page.goto(`/ui/r/${hostile.repository}/m/${hostile.manyAnnotationsDigest}`);
    assert.match(await mainText(page), /more/i, 'the page says that more annotations exist than it lists');
  }));

  it(`a repository with ${TAG_COUNT.toLocaleString('en')} tags pages: one page of rows, a next link, a small document`, () => inBrowser(async ({ page }) => {
    const { repository } = ui.content.manyTags!;
    await logIn(page, viewerUser, `/ui/r/${repository}`);
    const response = await page.goto(`/ui/r/${repository}`);
    const document = await response!.body();
    assert.ok(document.length < 256 * 1024, `the page is small (${document.length} bytes for ${TAG_COUNT} tags)`);
    const firstPage = await tagRows(page);
    assert.equal(firstPage.length, PAGE_SIZE, 'the first page holds one page of rows');
    assert.match(await mainText(page), new RegExp(TAG_COUNT.toLocaleString('en').replace(',', ',?')), 'the page says how many tags there are');
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: /next/i }).first().click()]);
    const secondPage = await tagRows(page);
    assert.equal(secondPage.length, PAGE_SIZE);
    assert.deepEqual(secondPage.filter((tag) => firstPage.includes(tag)), [], 'the next page shows other tags');
  }));
});

/** the tag names in the tags table's rows (the first cell's link) */
async function tagRows(page: Page): Promise<string[]> {
  return page.locator('main table tbody tr').evaluateAll((rows) =>
    rows.map((row) => row.querySelector('td a')?.textContent?.trim() ?? ''));
}
