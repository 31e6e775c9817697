// A probe for the web UI's closing note, not a test: the bytes of HTML, JS and CSS a repository page costs, and the
// time from navigation to the load event for a repository with 10,000 tags (first page, sorted by push time, last
// pages), each the median of several visits in fresh browser contexts (nothing cached).
// Run: node test/ui/page-weight.ts [tags=10000] [visits=7]
import type { Browser } from 'playwright-core';
import { launchBrowser, logIn, openSession } from '../support/browser.ts';
import { adminUser, startUiRegistry } from '../support/ui-fixtures.ts';

const tagCount = Number(process.argv[2] ?? 10_000);
const visits = Number(process.argv[3] ?? 7);

interface Visit {
  html: number;
  js: number;
  css: number;
  /** navigation start to the load event's end, from the Navigation Timing entry */
  loadMs: number;
}

async function visit(browser: Browser, baseURL: string, path: string): Promise<Visit> {
  const session = await openSession(browser, { baseURL });
  try {
    await logIn(session.page, adminUser);
    const sizes = { html: 0, js: 0, css: 0 };
    session.page.on('response', async (response) => {
      const type = response.request().resourceType();
      const kind = type === 'document' ? 'html' : type === 'script' ? 'js' : type === 'stylesheet' ? 'css' : undefined;
      if (kind) sizes[kind] += (await response.body().catch(() => Buffer.alloc(0))).length;
    });
    await session.page.goto(path, { waitUntil: 'load' });
    const loadMs = await session.page.evaluate(() => {
      const [entry] = performance.getEntriesByType('navigation') as PerformanceNavigationTiming[];
      return entry ? entry.loadEventEnd - entry.startTime : NaN;
    });
    await session.page.waitForTimeout(100); // response bodies are read asynchronously
    session.assertClean();
    return { ...sizes, loadMs };
  } finally {
    await session.context.close();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const ui = await startUiRegistry({ manyTags: tagCount });
const browser = await launchBrowser();
try {
  const { repository } = ui.content.manyTags!;
  const pages: Array<[string, string]> = [
    ['small repository (demo/app, 2 tags)', `/ui/r/${ui.content.multiPlatform.repository}`],
    [`${tagCount} tags, first page`, `/ui/r/${repository}`],
    [`${tagCount} tags, sorted by push time`, `/ui/r/${repository}?sort=pushed`],
    // tags are build-00000, build-00001, …: a page by name starts after the tag before it
    [`${tagCount} tags, last page by name`, `/ui/r/${repository}?${new URLSearchParams({ after: `build-${String(tagCount - 51).padStart(5, '0')}` })}`],
    [`${tagCount} tags, last page by push time`, `/ui/r/${repository}?sort=pushed&page=${Math.ceil(tagCount / 50)}`],
  ];
  console.log(`chromium ${browser.version()}, ${visits} visits each, fresh context each (nothing cached); median`);
  for (const [name, path] of pages) {
    const results: Visit[] = [];
    for (let i = 0; i < visits; i++) results.push(await visit(browser, ui.registry.url, path));
    const { html, js, css } = results[0]!;
    console.log(`${name}: HTML ${html} B, JS ${js} B, CSS ${css} B, total ${html + js + css} B; ` +
      `navigation to load ${median(results.map((r) => r.loadMs)).toFixed(0)} ms (min ${Math.min(...results.map((r) => r.loadMs)).toFixed(0)}, max ${Math.max(...results.map((r) => r.loadMs)).toFixed(0)})`);
  }
} finally {
  await browser.close();
  await ui.stop();
}
