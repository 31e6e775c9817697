// The web UI of an operator-managed Registry, end to end: a Registry with a NodePort Service and spec.ui.title
// names its UI in status.uiUrl; a browser on this machine opens it through the NodePort, logs in as a user the
// operator created, finds the image pushed a moment before and its tag. With spec.ui.enabled false the rolled-out
// pods serve no UI (404) while the registry API keeps serving, and status.uiUrl is gone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { apply, createNamespace, deleteNamespace, diagnostics, kubectl, waitFor } from '../../support/kube.ts';
import { getRegistry, installOperator, registryReady, secretText } from '../../support/operator.ts';
import { clientFor } from '../../support/http.ts';
import { pushImage, randomBlob } from '../../support/oci.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { launchBrowser, logIn, withSession } from '../../support/browser.ts';

const NODE_PORT = 30504;
const ORIGIN = `https://127.0.0.1:${NODE_PORT}`;
const REGISTRY = 'browse';
const TITLE = 'Team images';

let ns: string;
let browser: Browser | undefined;

function registryYaml(ui: string): string {
  return `
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: ${REGISTRY} }
spec:
  storage: { size: 1Gi }
  service: { type: NodePort, port: 443, nodePort: ${NODE_PORT} }
  ui: ${ui}
  auth:
    users:
      - name: admin
`;
}

before(async () => {
  await installOperator();
  ns = await createNamespace('e2e-ui');
  await apply(registryYaml(`{ title: "${TITLE}" }`), ns);
  await waitFor('the Registry to be Ready', () => registryReady(ns, REGISTRY), 300_000, () => diagnostics(ns));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (ns) await deleteNamespace(ns);
});

describe('the web UI of an operator-managed Registry', () => {
  it('is named in status.uiUrl and shows a pushed image to a user logged in through the NodePort', async () => {
    assert.equal((await getRegistry(ns, REGISTRY)).status.uiUrl, `https://${REGISTRY}.${ns}.svc/ui/`);
    const admin = { name: 'admin', password: await secretText(ns, `${REGISTRY}-user-admin`, 'password') };
    const caPem = await secretText(ns, `${REGISTRY}-ca`, 'ca.crt');
    const client = clientFor({ url: ORIGIN, caPem } as RunningRegistry, admin);
    await pushImage(client, 'team/app', 'v1', [randomBlob(4096)]);
    await client.close();

    await withSession(browser!, { baseURL: ORIGIN }, async ({ page }) => {
      await page.goto('/ui/');
      assert.match(new URL(page.url()).pathname, /^\/ui\/login/, 'a visitor without a session is sent to log in');
      await logIn(page, admin);
      assert.match(await page.title(), new RegExp(TITLE));
      await page.getByRole('link', { name: 'team/app' }).click();
      await page.waitForURL(/\/ui\/r\/team\/app/);
      assert.ok(await page.getByRole('cell', { name: 'v1', exact: true }).isVisible(), 'the tag v1 is listed');
    });
  });

  it('serves no UI once spec.ui.enabled is false, while the registry API keeps serving', async () => {
    const admin = { name: 'admin', password: await secretText(ns, `${REGISTRY}-user-admin`, 'password') };
    const client = clientFor({ url: ORIGIN, caPem: await secretText(ns, `${REGISTRY}-ca`, 'ca.crt') } as RunningRegistry, admin);
    try {
      await apply(registryYaml('{ enabled: false }'), ns);
      await waitFor('the Registry to roll out without its UI', async () => {
        if (!(await registryReady(ns, REGISTRY))) return false;
        const response = await client.send('GET', '/ui/', { user: null }).catch(() => null);
        return response?.status === 404;
      }, 300_000, () => diagnostics(ns));
      assert.equal((await getRegistry(ns, REGISTRY)).status.uiUrl, undefined);
      const tags = await client.send('GET', '/v2/team/app/tags/list');
      assert.equal(tags.status, 200);
      assert.deepEqual(tags.json().tags, ['v1']);
    } finally {
      await client.close();
    }
  });
});
