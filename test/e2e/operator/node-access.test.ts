// Pods run images from a Registry by the host in its status.url, with TLS verified and nothing configured on
// the nodes by hand: the chart's node agent writes containerd's hosts.toml and the CA. Pushes go through
// `kubectl port-forward` (works on any cluster); pulls are the kubelet's, through the Service's ClusterIP.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, kubectl, KUBECONFIG, waitFor } from '../../support/kube.ts';
import { installOperator, OPERATOR_NAMESPACE, registryCondition } from '../../support/operator.ts';
import { run } from '../../registry/tools.ts';

const cacheDir = process.env.REGOP_CACHE ?? join(homedir(), '.cache', 'regop');
/** a runnable image: the busybox archive `npm run cluster:up` builds from scratch */
const BUSYBOX = join(cacheDir, 'images', 'busybox-1.35.tar');
/** where the local cluster's containerd (and kind's) reads hosts.toml: the chart's nodeAgent.certsDir */
const NODE_CERTS_DIR = '/etc/containerd/certs.d';

let env: Record<string, string>;
let work: string;
let first: string;
let second: string;
const forwards: ChildProcess[] = [];

async function registry(namespace: string, name: string): Promise<any> {
  return getJson(['-n', namespace, 'get', 'registry', name]);
}

const condition = registryCondition;

async function nodeReports(): Promise<Array<{ node: string; registries: Record<string, { configured: boolean; reason: string }> }>> {
  const maps = await getJson(['-n', OPERATOR_NAMESPACE, 'get', 'configmap', '-l', 'regop.dev/node-access-report=true']);
  return (maps?.items ?? []).map((m: any) => JSON.parse(m.data['report.json']));
}

async function everything(namespace: string): Promise<string> {
  const agent = await kubectl(['-n', OPERATOR_NAMESPACE, 'logs', '-l', 'app.kubernetes.io/component=node-agent', '--tail=40'], { allowFailure: true });
  return `${await diagnostics(namespace)}\n--- node agent\n${agent.stdout}${agent.stderr}\n--- reports\n${JSON.stringify(await nodeReports(), null, 1)}`;
}

function kubectlBinary(): string {
  const local = join(cacheDir, 'k8s-v1.33.13', 'bin', 'kubectl');
  return existsSync(local) ? local : 'kubectl';
}

/** `kubectl port-forward` to the registry Service; resolves to the local host:port */
function portForward(namespace: string, service: string): Promise<string> {
  const child = spawn(kubectlBinary(), ['--kubeconfig', KUBECONFIG, '-n', namespace, 'port-forward', `service/${service}`, ':443', '--address', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  forwards.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`port-forward did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(`127.0.0.1:${match[1]}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`port-forward exited (${code}): ${output}`)));
  });
}

async function secret(namespace: string, name: string, key: string): Promise<string> {
  const object = await getJson(['-n', namespace, 'get', 'secret', name]);
  return Buffer.from(object.data[key], 'base64').toString('utf8');
}

/** pushes the busybox image as `team/busybox:1` with the admin user, trusting the Registry's CA */
async function pushBusybox(namespace: string, name: string): Promise<void> {
  const address = await portForward(namespace, name);
  const certs = join(work, `${namespace}-${name}`, address);
  mkdirSync(certs, { recursive: true });
  writeFileSync(join(certs, 'ca.crt'), await secret(namespace, `${name}-ca`, 'ca.crt'));
  const password = await secret(namespace, `${name}-user-admin`, 'password');
  let lastAttempt = '';
  await waitFor('a push through the port-forward', async () => {
    const pushed = await run('skopeo', ['copy', '--dest-cert-dir', certs, '--dest-creds', `admin:${password}`,
      `docker-archive:${BUSYBOX}`, `docker://${address}/team/busybox:1`], { env, allowFailure: true });
    lastAttempt = pushed.stderr.trim().split('\n').slice(-3).join('\n');
    return pushed.code === 0;
  }, 60_000, async () => `--- last skopeo error\n${lastAttempt}\n--- certificates\n${await certificateChain(namespace, name, address)}\n${await everything(namespace)}`);
}

/** who issued the certificate the registry serves, against the CA its Secrets publish: tells a stale mount from a wrong CA */
async function certificateChain(namespace: string, name: string, address: string): Promise<string> {
  const describe = async (pem: string) => (await run('openssl', ['x509', '-noout', '-subject', '-issuer', '-serial', '-dates'], { input: pem, allowFailure: true })).stdout.trim();
  const served = await run('openssl', ['s_client', '-connect', address, '-showcerts'], { input: '', allowFailure: true });
  const servedPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(served.stdout)?.[0] ?? '';
  const lines = [`served: ${servedPem ? await describe(servedPem) : served.stderr.trim().slice(0, 300)}`];
  for (const [what, pem] of [
    ['Secret tls.crt', await secret(namespace, `${name}-tls`, 'tls.crt').catch(() => '')],
    ['Secret ca.crt', await secret(namespace, `${name}-ca`, 'ca.crt').catch(() => '')],
  ] as const) lines.push(`${what}: ${pem ? await describe(pem) : 'missing'}`);
  const operator = await kubectl(['-n', OPERATOR_NAMESPACE, 'logs', '-l', 'app.kubernetes.io/name=regop-operator', '--tail=300'], { allowFailure: true });
  lines.push('--- operator log lines of this namespace', ...operator.stdout.split('\n').filter((line) => line.includes(namespace)).slice(-30));
  return lines.join('\n');
}

function registryYaml(name: string, pullNamespace: string): string {
  return `
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: ${name} }
spec:
  storage: { size: 1Gi }
  auth: { users: [{ name: admin }] }
  pullSecret: { namespaces: [${pullNamespace}] }
`;
}

function podYaml(name: string, image: string, pullSecret: string): string {
  return `
apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  restartPolicy: Never
  imagePullSecrets: [{ name: ${pullSecret} }]
  containers:
    - name: main
      image: ${image}
      imagePullPolicy: Always
      command: ["/bin/sh", "-c", "echo ran-from-regop"]
`;
}

async function runPod(namespace: string, name: string, image: string, pullSecret: string): Promise<void> {
  await apply(podYaml(name, image, pullSecret), namespace);
  await waitFor(`pod ${name} to run ${image}`, async () => (await getJson(['-n', namespace, 'get', 'pod', name]))?.status?.phase === 'Succeeded', 180_000, () => everything(namespace));
  assert.match((await kubectl(['-n', namespace, 'logs', name])).stdout, /ran-from-regop/);
}

async function hostOf(namespace: string, name: string): Promise<string> {
  return new URL((await registry(namespace, name)).status.url).host;
}

async function waitNodeAccess(namespace: string, name: string): Promise<void> {
  await waitFor(`NodeAccess of ${namespace}/${name}`, async () => (await condition(namespace, name, 'NodeAccess'))?.status === 'True', 180_000, () => everything(namespace));
}

const skip = existsSync(BUSYBOX) ? false : `needs the busybox image archive ${BUSYBOX} (npm run cluster:up builds it)`;

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'regop-node-access-'));
  env = await installOperator();
  first = await createNamespace('e2e-nodes');
  second = await createNamespace('e2e-nodes-b');
});

after(async () => {
  for (const child of forwards) child.kill();
  if (first) await deleteNamespace(first);
  if (second) await deleteNamespace(second);
});

describe('node access: pods pull by the status.url host', { skip }, () => {
  it('runs a pod from an image pushed to a new Registry, with nothing written to the node by the test', async () => {
    const applied = Date.now();
    await apply(registryYaml('nodes', first), first);
    await waitFor('Registry nodes to be Ready', async () => (await condition(first, 'nodes', 'Ready'))?.status === 'True', 240_000, () => everything(first));
    await pushBusybox(first, 'nodes');
    await waitNodeAccess(first, 'nodes');
    const status = (await registry(first, 'nodes')).status;
    assert.match(status.nodesConfigured, /^(\d+)\/\1$/, `nodesConfigured ${status.nodesConfigured}`);
    const host = await hostOf(first, 'nodes');
    assert.equal(host, `nodes.${first}.svc`);
    await runPod(first, 'app', `${host}/team/busybox:1`, 'nodes-pull');
    console.log(`from kubectl apply of a Registry to a pod running an image pushed to it: ${((Date.now() - applied) / 1000).toFixed(1)}s`);
  });

  it('tells the pod at once that an image is not there, naming the registry', async () => {
    const host = await hostOf(first, 'nodes');
    const created = Date.now();
    await apply(podYaml('missing', `${host}/team/missing:1`, 'nodes-pull'), first);
    const waiting = await waitFor('the pull of a missing image to fail', async () => {
      const state = (await getJson(['-n', first, 'get', 'pod', 'missing']))?.status?.containerStatuses?.[0]?.state?.waiting;
      return state && ['ErrImagePull', 'ImagePullBackOff'].includes(state.reason) ? state : null;
    }, 60_000, () => everything(first));
    const elapsed = (Date.now() - created) / 1000;
    assert.ok(elapsed < 30, `the pull failed only after ${elapsed}s`);
    assert.match(waiting.message ?? '', new RegExp(host.replace(/\./g, '\\.')));
    assert.match(waiting.message ?? '', /not found/i);
  });

  it('serves a second Registry in another namespace side by side', async () => {
    await apply(registryYaml('nodes', second), second);
    await waitFor('the second Registry to be Ready', async () => (await condition(second, 'nodes', 'Ready'))?.status === 'True', 240_000, () => everything(second));
    await pushBusybox(second, 'nodes');
    await waitNodeAccess(second, 'nodes');
    await runPod(second, 'app', `${await hostOf(second, 'nodes')}/team/busybox:1`, 'nodes-pull');
    await runPod(first, 'app-again', `${await hostOf(first, 'nodes')}/team/busybox:1`, 'nodes-pull');
  });

  it('keeps pulls working across a CA rotation', async () => {
    const before = (await getJson(['-n', first, 'get', 'configmap', 'nodes-node-ca'])).data['ca.crt'];
    // a new CA: the operator creates one when its key Secret is gone, and reissues the serving certificate
    await kubectl(['-n', first, 'delete', 'secret', 'nodes-ca-key']);
    await waitFor('a new CA to be published', async () => (await getJson(['-n', first, 'get', 'configmap', 'nodes-node-ca']))?.data?.['ca.crt'] !== before, 120_000, () => everything(first));
    await runPod(first, 'after-rotation', `${await hostOf(first, 'nodes')}/team/busybox:1`, 'nodes-pull');
    await waitNodeAccess(first, 'nodes');
  });

  it('removes the files when a Registry opts out or is deleted', async () => {
    const local = existsSync(NODE_CERTS_DIR);
    await kubectl(['-n', second, 'patch', 'registry', 'nodes', '--type', 'merge', '-p', '{"spec":{"nodeAccess":{"enabled":false}}}']);
    await waitFor('NodeAccess Disabled', async () => (await condition(second, 'nodes', 'NodeAccess'))?.reason === 'Disabled', 60_000, () => everything(second));
    await waitFor('the agents to drop the opted-out Registry', async () => (await nodeReports()).every((r) => !r.registries[`${second}/nodes`]), 60_000, () => everything(second));
    if (local) assert.equal(existsSync(join(NODE_CERTS_DIR, `nodes.${second}.svc`)), false);

    if (local) assert.equal(existsSync(join(NODE_CERTS_DIR, `nodes.${first}.svc`, 'hosts.toml')), true);
    await kubectl(['-n', first, 'delete', 'registry', 'nodes', '--wait=true'], { timeoutMs: 120_000 });
    await waitFor('the agents to drop the deleted Registry', async () => (await nodeReports()).every((r) => !r.registries[`${first}/nodes`]), 60_000, () => everything(first));
    if (local) assert.equal(existsSync(join(NODE_CERTS_DIR, `nodes.${first}.svc`)), false);
  });
});
