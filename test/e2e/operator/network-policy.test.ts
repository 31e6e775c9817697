// A Registry's NetworkPolicy, enforced by the local cluster's kube-router (kind's kindnet on kind): a pod in a
// namespace its spec.networkPolicy.allowFrom lists pulls a manifest through the Service, digest verified, while a
// pod in a namespace it does not list cannot connect; the metrics port answers the operator (status.storageUsed)
// and not the listed namespace; the image pushed through the NodePort from this machine (a node address) shows
// that the nodes stay admitted. With spec.networkPolicy.enabled false the policy goes and the other pod pulls.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, kubectl, waitFor, IMAGE } from '../../support/kube.ts';
import { getRegistry, installOperator, nodePortClient, registryReady } from '../../support/operator.ts';
import { pushImage, randomBlob } from '../../support/oci.ts';
import { REGISTRY_OPS_PORT } from '../../../registry/src/contract/image.ts';

const NODE_PORT = 30505;
const REGISTRY = 'fenced';

let ns: string;
let allowed: string;
let other: string;
let manifestDigest: string;

function registryYaml(networkPolicy: string): string {
  return `
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: ${REGISTRY} }
spec:
  storage: { size: 1Gi }
  service: { type: NodePort, port: 443, nodePort: ${NODE_PORT} }
  auth:
    anonymousPull: true
    users: [{ name: admin }]
  pullSecret: { namespaces: [${allowed}, ${other}] }
  networkPolicy: ${networkPolicy}
`;
}

const allowOnly = () => `{ allowFrom: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: ${allowed} } } }] }`;

/**
 * Runs a pod of the regop image (it has Node) that GETs a URL, trusting the Registry's CA copied into its
 * namespace, and prints `{status, digest}` (the sha256 of the body) or `{error}`: what it saw, never a guess. It
 * tries for up to ATTEMPTS seconds, since an enforcer admits a new pod's address a moment after the pod starts;
 * a pod that is refused gets exactly the same chances.
 */
const ATTEMPTS = 20;
async function fetchFromPod(namespace: string, name: string, url: string): Promise<{ status?: number; digest?: string; error?: string }> {
  const script = `
    const { createHash } = require('node:crypto');
    const once = () => fetch(process.env.URL, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' }, signal: AbortSignal.timeout(3000) })
      .then(async (r) => ({ status: r.status, digest: 'sha256:' + createHash('sha256').update(Buffer.from(await r.arrayBuffer())).digest('hex') }))
      .catch((e) => ({ error: String(e.cause?.code ?? e.name ?? e.message) }));
    (async () => {
      let result;
      for (let i = 0; i < ${ATTEMPTS}; i++) {
        const started = Date.now();
        result = await once();
        if (!result.error) break;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (Date.now() - started))));
      }
      console.log(JSON.stringify(result));
    })();`;
  await apply(`
apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  restartPolicy: Never
  containers:
    - name: fetch
      image: ${IMAGE}
      imagePullPolicy: Never
      command: [node, -e, ${JSON.stringify(script)}]
      env:
        - { name: URL, value: "${url}" }
        - { name: NODE_EXTRA_CA_CERTS, value: /ca/ca.crt }
      volumeMounts: [{ name: ca, mountPath: /ca }]
  volumes:
    - name: ca
      configMap: { name: ${REGISTRY}-ca }
`, namespace);
  await waitFor(`pod ${namespace}/${name} to finish`, async () => {
    const phase = (await getJson(['-n', namespace, 'get', 'pod', name]))?.status?.phase;
    return phase === 'Succeeded' || phase === 'Failed';
  }, 120_000, () => diagnostics(namespace));
  const logs = await kubectl(['-n', namespace, 'logs', name]);
  await kubectl(['-n', namespace, 'delete', 'pod', name, '--wait=false']);
  const line = logs.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`pod ${namespace}/${name} printed no result: ${logs.stdout}${logs.stderr}`);
  }
}

before(async () => {
  await installOperator();
  ns = await createNamespace('e2e-netpol');
  allowed = await createNamespace('e2e-netpol-allowed');
  other = await createNamespace('e2e-netpol-other');
  await apply(registryYaml(allowOnly()), ns);
  await waitFor('the Registry to be Ready', () => registryReady(ns, REGISTRY), 300_000, () => diagnostics(ns));
  // pushed from this machine through the NodePort: what arrives from a node's address is admitted
  const client = await nodePortClient(ns, REGISTRY, NODE_PORT);
  try {
    manifestDigest = (await pushImage(client, 'team/app', 'v1', [randomBlob(4096)])).digest;
  } finally {
    await client.close();
  }
});

after(async () => {
  for (const namespace of [ns, allowed, other]) if (namespace) await deleteNamespace(namespace);
});

describe('a Registry\'s NetworkPolicy, enforced', () => {
  const manifestUrl = () => `https://${REGISTRY}.${ns}.svc/v2/team/app/manifests/v1`;

  it('lets a pod in a listed namespace pull and refuses a pod in another', async () => {
    const policy = await getJson(['-n', ns, 'get', 'networkpolicy', REGISTRY]);
    assert.ok(policy, 'the operator made no NetworkPolicy');
    const [fromAllowed, fromOther] = await Promise.all([
      fetchFromPod(allowed, 'pull', manifestUrl()),
      fetchFromPod(other, 'pull', manifestUrl()),
    ]);
    assert.deepEqual(fromAllowed, { status: 200, digest: manifestDigest }, 'the listed namespace did not get the manifest');
    assert.ok(fromOther.error, `a pod in an unlisted namespace got an answer: ${JSON.stringify(fromOther)}`);
  });

  it('answers metrics to the operator and not to a listed namespace', async () => {
    await waitFor('status.storageUsed from the pods\' metrics', async () => (await getRegistry(ns, REGISTRY))?.status?.storageUsed, 120_000, () => diagnostics(ns));
    const pod = (await getJson(['-n', ns, 'get', 'pods', '-l', `app.kubernetes.io/instance=${REGISTRY}`])).items[0];
    const metrics = await fetchFromPod(allowed, 'metrics', `http://${pod.status.podIP}:${REGISTRY_OPS_PORT}/metrics`);
    assert.ok(metrics.error, `the metrics port answered an unlisted namespace: ${JSON.stringify(metrics)}`);
  });

  it('removes the policy when spec.networkPolicy.enabled is false, and the other namespace pulls', async () => {
    await apply(registryYaml('{ enabled: false }'), ns);
    await waitFor('the NetworkPolicy to go', async () => (await registryReady(ns, REGISTRY))
      && (await kubectl(['-n', ns, 'get', 'networkpolicy', REGISTRY], { allowFailure: true })).code !== 0, 120_000, () => diagnostics(ns));
    // the enforcer removes its rules a moment after the policy goes: the pod's attempts cover that
    const fromOther = await fetchFromPod(other, 'pull-after', manifestUrl());
    assert.equal(fromOther.status, 200, `the other namespace still cannot pull: ${JSON.stringify(fromOther)}`);
    assert.equal(fromOther.digest, manifestDigest);
  });
});
