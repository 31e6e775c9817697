// `npm run screenshots`: starts a registry that real clients fill with demo content, gives it some history (pulls,
// a deleted image, a retention dry run and a garbage collection), logs in with headless chromium and writes the
// README's pictures of the main pages: docs/ui-{repositories,repository,image,storage}.png, 1280x800.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, logIn, withSession } from '../support/browser.ts';
import { clientFor } from '../support/http.ts';
import { OCI_INDEX, OCI_MANIFEST, pushImage, randomBlob } from '../support/oci.ts';
import { adminUser, startUiRegistry, type UiRegistry } from '../support/ui-fixtures.ts';

const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs');
const viewport = { width: 1280, height: 800 };

/** Pulls, a deleted image that a collection then frees, a retention dry run: what the storage page reports. */
async function addHistory(ui: UiRegistry): Promise<void> {
  const client = clientFor(ui.registry, adminUser);
  const admin = { authorization: `Bearer ${ui.adminToken}`, 'content-type': 'application/json' };
  try {
    const accept = `${OCI_MANIFEST}, ${OCI_INDEX}`;
    for (const reference of ['demo/app/manifests/1.0', 'platform/api-gateway/manifests/2.4.1', 'web/storefront/manifests/latest', 'platform/auth-service/manifests/latest']) {
      const response = await client.send('GET', `/v2/${reference}`, { headers: { accept } });
      if (response.status !== 200) throw new Error(`pull ${reference}: ${response.status}`);
    }
    const old = await pushImage(client, 'platform/api-gateway', '2.3.9', [randomBlob(3 * 1024 * 1024)]);
    const deleted = await client.send('DELETE', `/v2/platform/api-gateway/manifests/${old.digest}`);
    if (deleted.status !== 202) throw new Error(`delete: ${deleted.status} ${deleted.body}`);
    const retention = await client.send('POST', '/admin/v1/retention', {
      user: null, headers: admin,
      body: JSON.stringify({ rules: { repositories: { include: ['platform/**'] }, keep: { mostRecentlyPushed: 2, tags: ['latest'] } }, dryRun: true }),
    });
    if (retention.status !== 200) throw new Error(`retention: ${retention.status} ${retention.body}`);
    const gc = await client.send('POST', '/admin/v1/gc', { user: null, headers: admin, body: JSON.stringify({ gracePeriod: '0s' }) });
    if (gc.status !== 200) throw new Error(`gc: ${gc.status} ${gc.body}`);
  } finally {
    await client.close();
  }
}

const ui = await startUiRegistry({ demo: true, start: { config: { ui: { title: 'registry.example.com' } } } });
const browser = await launchBrowser();
try {
  await addHistory(ui);
  mkdirSync(docs, { recursive: true });
  const { repository, digest } = ui.content.multiPlatform;
  const shots: Array<[string, string]> = [
    ['ui-repositories.png', '/ui/'],
    ['ui-repository.png', `/ui/r/${repository}`],
    ['ui-image.png', `/ui/r/${repository}/m/${digest}`],
    ['ui-storage.png', '/ui/storage'],
  ];
  await withSession(browser, { baseURL: ui.registry.url, viewport }, async ({ page }) => {
    await logIn(page, adminUser);
    for (const [file, path] of shots) {
      const response = await page.goto(path);
      if (response?.status() !== 200) throw new Error(`${path} answered ${response?.status()}`);
      await page.screenshot({ path: join(docs, file), fullPage: false });
      console.log(`wrote docs/${file} (${path})`);
    }
  });
} finally {
  await browser.close();
  await ui.stop();
}
