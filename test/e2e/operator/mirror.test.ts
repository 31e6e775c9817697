// A Registry mirrors another registry for the whole cluster: a pod naming `<upstream host>/library/busybox:1`
// is pulled through the Registry (the node agent points containerd at it first), and with the Registry scaled
// to 0 the nodes pull from the upstream directly. The upstream is a real CNCF distribution with TLS and token
// auth (test/support/upstream.ts) on the node's address, which pods and the node's containerd both reach.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, kubectl, waitFor } from '../../support/kube.ts';
import { installOperator, OPERATOR_NAMESPACE } from '../../support/operator.ts';
import { startUpstream, type Upstream } from '../../support/upstream.ts';
import { isolatedHome, run } from '../../registry/tools.ts';
import { mirrorNameOfHost } from '../../../registry/src/mirror/names.ts';

const cacheDir = process.env.REGOP_CACHE ?? join(homedir(), '.cache', 'regop');
/** a runnable image: the busybox archive `npm run cluster:up` builds from scratch */
const BUSYBOX = join(cacheDir, 'images', 'busybox-1.35.tar');
/** the local cluster's node address, on the pods' bridge: pods and the node's containerd reach it */
const NODE_ADDRESS = process.env.REGOP_E2E_NODE_ADDRESS ?? '10.217.0.1';

let namespace: string;
let upstream: Upstream;

async function registry(): Promise<any> {
  return getJson(['-n', namespace, 'get', 'registry', 'cache']);
}

async function everything(): Promise<string> {
  const agent = await kubectl(['-n', OPERATOR_NAMESPACE, 'logs', '-l', 'app.kubernetes.io/component=node-agent', '--tail=40'], { allowFailure: true });
  const reports = await getJson(['-n', OPERATOR_NAMESPACE, 'get', 'configmap', '-l', 'regop.dev/node-access-report=true']);
  const upstreamTail = upstream.requests.slice(-20).map((r) => `${r.method} ${r.path} ${r.status}`).join('\n');
  return `${await diagnostics(namespace)}\n--- registry status\n${JSON.stringify((await registry())?.status, null, 1)}`
    + `\n--- node agent\n${agent.stdout}${agent.stderr}\n--- reports\n${(reports?.items ?? []).map((m: any) => m.data['report.json']).join('\n')}`
    + `\n--- upstream requests (last 20)\n${upstreamTail}`;
}

/**
 * busybox with one more layer made for this run: the node's containerd already holds busybox's own layers (the
 * local cluster imports busybox for other suites), so only a layer no node has proves that blobs came through
 */
async function pushBusyboxOfItsOwn(tag: string): Promise<void> {
  await upstream.pushArchive(BUSYBOX, 'library/busybox', 'base');
  const work = mkdtempSync(join(tmpdir(), 'regop-mirror-layer-'));
  writeFileSync(join(work, `marker-${tag}`), `${randomUUID()}\n`);
  await run('tar', ['-cf', join(work, 'layer.tar'), '-C', work, `marker-${tag}`]);
  const env = { ...isolatedHome(), SSL_CERT_FILE: join(upstream.certDir, 'ca.crt') };
  const { username, password } = upstream.credentials;
  await run('crane', ['auth', 'login', upstream.host, '-u', username, '--password-stdin'], { env, input: password });
  await run('crane', ['append', '-b', `${upstream.host}/library/busybox:base`, '-f', join(work, 'layer.tar'), '-t', `${upstream.host}/library/busybox:${tag}`], { env });
  rmSync(work, { recursive: true, force: true });
}

async function runPod(name: string, image: string): Promise<void> {
  await apply(`
apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: ${image}
      imagePullPolicy: Always
      command: ["/bin/sh", "-c", "echo ran-through-the-mirror"]
`, namespace);
  await waitFor(`pod ${name} to run ${image}`, async () => (await getJson(['-n', namespace, 'get', 'pod', name]))?.status?.phase === 'Succeeded', 180_000, everything);
  assert.match((await kubectl(['-n', namespace, 'logs', name])).stdout, /ran-through-the-mirror/);
}

/** the upstream listens on NODE_ADDRESS, so this host must hold it (the local cluster's bridge does; on kind, set
 * REGOP_E2E_NODE_ADDRESS to the Docker network's gateway address, which kind's nodes reach) */
const hostHoldsNodeAddress = Object.values(networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === NODE_ADDRESS));
const skip = !existsSync(BUSYBOX) ? `needs the busybox image archive ${BUSYBOX} (npm run cluster:up builds it)`
  : !hostHoldsNodeAddress ? `needs ${NODE_ADDRESS} on this host for the upstream registry (set REGOP_E2E_NODE_ADDRESS)` : false;

before(async () => {
  if (skip) return;
  await installOperator();
  namespace = await createNamespace('e2e-mirror');
  upstream = await startUpstream({ bindAddress: NODE_ADDRESS });
  await pushBusyboxOfItsOwn('1');
  await pushBusyboxOfItsOwn('2');
});

after(async () => {
  if (skip) return;
  await deleteNamespace(namespace);
  await upstream?.stop();
});

describe('pull-through mirror on the cluster', { skip }, () => {
  it('runs a pod by the upstream host, pulled through the Registry, then pulls from the upstream while the Registry is down', async () => {
    await apply(`
apiVersion: v1
kind: Secret
metadata: { name: upstream-login }
type: kubernetes.io/basic-auth
stringData: { username: ${JSON.stringify(upstream.credentials.username)}, password: ${JSON.stringify(upstream.credentials.password)} }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: upstream-ca }
data:
  ca.crt: ${JSON.stringify(upstream.caPem)}
---
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: cache }
spec:
  storage: { size: 1Gi }
  mirrors:
    - registry: ${JSON.stringify(upstream.host)}
      upstream: ${upstream.url}
      credentialsSecretRef: { name: upstream-login }
      ca: { configMapKeyRef: { name: upstream-ca } }
      tagTTL: 10m
`, namespace);
    const prefix = mirrorNameOfHost(upstream.host);
    const blobsBefore = upstream.blobGets();
    await waitFor('the Registry to be Ready with every node pulling its mirror through it', async () => {
      const status = (await registry())?.status;
      const nodeAccess = status?.conditions?.find((c: { type: string }) => c.type === 'NodeAccess');
      return status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') && nodeAccess?.status === 'True';
    }, 240_000, everything);

    // pulled through the Registry: it fetched the image from the upstream into its store
    await runPod('through-mirror', `${upstream.host}/library/busybox:1`);
    const cached = await waitFor('the Registry to report what the mirror holds', async () => {
      const mirror = (await registry())?.status?.mirrors?.find((m: { prefix: string }) => m.prefix === prefix);
      return mirror?.cachedBytes && mirror.cachedBytes !== '0' && mirror.hitRatio !== undefined ? mirror : null;
    }, 120_000, everything);
    assert.ok((await registry()).status.mirrorsCached !== '0', 'the printer column shows the cached total');
    console.log(`mirror ${prefix}: cached ${cached.cachedBytes}, hit ratio ${cached.hitRatio}`);
    const blobsFetched = upstream.blobGets();
    assert.ok(blobsFetched > blobsBefore, `the upstream served no blob: ${upstream.requests.slice(-20).map((r) => `${r.method} ${r.path} ${r.status}`).join(', ')}`);

    // a second pull of the same image is answered from the Registry's store: no blob from the upstream
    await runPod('from-cache', `${upstream.host}/library/busybox:1`);
    assert.equal(upstream.blobGets(), blobsFetched, 'a cached image was fetched from the upstream again');

    // the Registry down: containerd falls back to the upstream itself (the hosts.toml `server`)
    await kubectl(['-n', namespace, 'patch', 'registry', 'cache', '--type=merge', '-p', '{"spec":{"replicas":0}}']);
    await waitFor('the registry pods to be gone', async () => {
      const pods = await getJson(['-n', namespace, 'get', 'pods', '-l', 'app.kubernetes.io/instance=cache']);
      return (pods?.items ?? []).length === 0;
    }, 120_000, everything);
    const manifestsBefore = upstream.manifestRequests();
    await runPod('fallback', `${upstream.host}/library/busybox:2`);
    assert.ok(upstream.manifestRequests() > manifestsBefore, 'the node did not ask the upstream directly');
  });
});
