// What the registry reloads by itself reaches it without a restart: while a client pulls in a loop (a user that
// stays valid, TLS verified against the Registry's CA), a user is added, another user's password rotated and
// the serving certificate renewed. Each change must become visible, no pull may fail, and the pod must be the
// same one, never restarted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, kubectl, podFile, registryPod, waitFor } from '../../support/kube.ts';
import { installOperator } from '../../support/operator.ts';
import { clientFor } from '../../support/http.ts';
import { pushImage, randomBlob } from '../../support/oci.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { getOnce, PullLoop } from './pull-loop.ts';

const NODE_PORT = 30502;
const REGISTRY = 'steady';
/** kubelet sync period (1 min) plus its jitter and the registry's reload intervals, with room for a busy machine */
const PROPAGATION_MS = 180_000;

let ns: string;
let caPem: string;
let loop: PullLoop | undefined;

async function secretValue(name: string, key: string): Promise<string | null> {
  const secret = await getJson(['-n', ns, 'get', 'secret', name]);
  const value = secret?.data?.[key];
  return value === undefined ? null : Buffer.from(value, 'base64').toString('utf8');
}

const target = () => ({ host: '127.0.0.1', port: NODE_PORT, caPem });
async function status(path: string, user: { name: string; password: string }): Promise<number> {
  return (await getOnce({ ...target(), user }, path, {}, user)).status;
}

async function report(): Promise<string> {
  return `pull loop: ${loop?.summary() ?? 'not started'}\n${await diagnostics(ns)}`;
}

before(async () => {
  await installOperator();
  ns = await createNamespace('e2e-no-outage');
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 'alice-password', '--from-literal=password=alice-first-pw']);
  await apply(`
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: ${REGISTRY} }
spec:
  storage: { size: 1Gi }
  service: { type: NodePort, port: 443, nodePort: ${NODE_PORT} }
  auth:
    users:
      - name: puller
        access: [{ repositories: ["**"], actions: [pull] }]
      - name: alice
        passwordSecretRef: { name: alice-password }
`, ns);
  await waitFor(`Registry ${REGISTRY} to be Ready`, async () => {
    const registry = await getJson(['-n', ns, 'get', 'registry', REGISTRY]);
    return registry?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
  }, 240_000, () => diagnostics(ns));
  caPem = (await secretValue(`${REGISTRY}-ca`, 'ca.crt'))!;
});

after(async () => {
  await loop?.stop();
  if (ns) await deleteNamespace(ns);
});

describe('changes the registry reloads by itself', () => {
  it('add a user, rotate a password and renew the certificate with 0 failed pulls and no pod restart', async () => {
    const alice = { name: 'alice', password: 'alice-first-pw' };
    const client = clientFor({ url: `https://127.0.0.1:${NODE_PORT}`, caPem } as RunningRegistry, alice);
    await waitFor('the registry to answer through the NodePort', async () => (await client.send('GET', '/v2/')).status === 200, 60_000, () => diagnostics(ns));
    const layers = [randomBlob(256 * 1024), randomBlob(4 * 1024)];
    const manifest = await pushImage(client, 'team/app', 'v1', layers);
    await client.close();

    const puller = { name: 'puller', password: (await secretValue(`${REGISTRY}-user-puller`, 'password'))! };
    const podBefore = await registryPod(ns, REGISTRY);
    const deploymentBefore = await getJson(['-n', ns, 'get', 'deployment', REGISTRY]);
    const certBefore = (await getOnce({ ...target(), user: puller }, '/v2/')).certificate;
    const aliceLine = (htpasswd: string | null) => htpasswd?.split('\n').find((line) => line.startsWith('alice:'));
    const aliceBefore = aliceLine(await secretValue(`${REGISTRY}-auth`, 'htpasswd'));

    loop = new PullLoop({
      ...target(), user: puller, repository: 'team/app',
      manifest: { tag: 'v1', digest: manifest.digest }, blobs: layers.map((layer) => layer.digest),
    });
    loop.start();
    await waitFor('the pull loop to be pulling', async () => loop!.requests >= 20, 30_000);
    assert.equal(loop.failures.length, 0, `pulls failed before any change: ${loop.summary()}`);

    // the three changes, made as a user would make them
    const changedAt = Date.now();
    await kubectl(['-n', ns, 'patch', 'registry', REGISTRY, '--type', 'json', '-p',
      JSON.stringify([{ op: 'add', path: '/spec/auth/users/-', value: { name: 'bob', access: [{ repositories: ['**'], actions: ['pull'] }] } }])]);
    await apply('apiVersion: v1\nkind: Secret\nmetadata: { name: alice-password }\nstringData: { password: alice-second-pw }\n', ns);
    await kubectl(['-n', ns, 'annotate', 'registry', REGISTRY, '--overwrite', `regop.dev/renew-certificate=${new Date().toISOString()}`]);

    // the operator writes the Secrets (it re-reads referenced password Secrets at least every minute)
    const written = await waitFor('the operator to write the new users and certificate', async () => {
      const htpasswd = await secretValue(`${REGISTRY}-auth`, 'htpasswd');
      const cert = await secretValue(`${REGISTRY}-tls`, 'tls.crt');
      const bob = await secretValue(`${REGISTRY}-user-bob`, 'password');
      const rotated = aliceLine(htpasswd) !== undefined && aliceLine(htpasswd) !== aliceBefore;
      const renewed = cert !== null && new X509Certificate(cert).fingerprint256 !== certBefore;
      return htpasswd && bob && rotated && renewed ? { htpasswd, cert: cert!, bob } : null;
    }, PROPAGATION_MS, report);
    const writtenAt = Date.now();

    // then the kubelet updates the pod's Secret volumes in place
    const pod = podBefore.name;
    await waitFor('the kubelet to update the mounted files', async () =>
      (await podFile(ns, pod, '/etc/regop/auth/htpasswd')) === written.htpasswd && (await podFile(ns, pod, '/etc/regop/tls/tls.crt')) === written.cert,
    PROPAGATION_MS, report);
    const mountedAt = Date.now();

    // and the registry reloads them (htpasswd every 2 s, TLS every 10 s): few attempts, so no lockout is provoked
    const bob = { name: 'bob', password: written.bob };
    await waitFor('the new user to log in', async () => (await status('/v2/team/app/tags/list', bob)) === 200, 30_000, report);
    await waitFor('the new password to work', async () => (await status('/v2/', { name: 'alice', password: 'alice-second-pw' })) === 200, 30_000, report);
    assert.equal(await status('/v2/', alice), 401, 'the old password still works');
    const renewedFingerprint = new X509Certificate(written.cert).fingerprint256;
    await waitFor('the renewed certificate to be served', async () => (await getOnce({ ...target(), user: puller }, '/v2/')).certificate === renewedFingerprint, 60_000, report);
    const visibleAt = Date.now();

    // a little more pulling on the new certificate, then the verdict
    const seen = loop.requests;
    await waitFor('more pulls after the changes', async () => loop!.requests >= seen + 20, 30_000);
    await loop.stop();
    console.log(`changes written by the operator after ${((writtenAt - changedAt) / 1000).toFixed(1)}s, in the pod's volumes after ${((mountedAt - changedAt) / 1000).toFixed(1)}s, all visible after ${((visibleAt - changedAt) / 1000).toFixed(1)}s; ${loop.summary()}`);
    assert.equal(loop.failures.length, 0, `pulls failed during the changes: ${await report()}`);
    assert.ok(loop.certificates.includes(renewedFingerprint), 'the loop never saw the renewed certificate');

    const podAfter = await registryPod(ns, REGISTRY);
    assert.deepEqual(podAfter, podBefore, 'the registry pod was replaced or restarted');
    const deploymentAfter = await getJson(['-n', ns, 'get', 'deployment', REGISTRY]);
    assert.deepEqual(deploymentAfter.spec.template, deploymentBefore.spec.template, 'the pod template changed');
  });
});
