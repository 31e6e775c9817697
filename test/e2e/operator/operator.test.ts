// The product's promise, end to end: `helm install` the chart, apply a Registry, and push and pull with podman
// through its Service, trusting the CA from its Secret. Then what an admin would try: wrong passwords, missing
// rights, rotating a password, deleting children, bad resources, a crashing operator, deleting the Registry.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, kubectl, podFile, registryPod, waitFor } from '../../support/kube.ts';
import { installOperator, OPERATOR_NAMESPACE, registryCondition, RELEASE } from '../../support/operator.ts';
import { run } from '../../registry/tools.ts';
import { ContainerTools } from '../../support/containers.ts';

const OPERATOR_NS = OPERATOR_NAMESPACE;
const cacheDir = process.env.REGOP_CACHE ?? join(homedir(), '.cache', 'regop');
const NODE_PORT = 30500;
const HOST = `127.0.0.1:${NODE_PORT}`;

let ns: string;
let work: string;
let env: Record<string, string>;
let tools: ContainerTools;
let certDir: string;
const secretsSeen = new Set<string>();

async function secretValue(namespace: string, name: string, key: string): Promise<string> {
  const secret = await getJson(['-n', namespace, 'get', 'secret', name]);
  const value = Buffer.from(secret.data[key], 'base64').toString('utf8');
  if (key !== 'ca.crt') secretsSeen.add(value);
  return value;
}

const condition = (name: string, type: string) => registryCondition(ns, name, type);

async function waitReady(name: string, timeoutMs = 240_000): Promise<void> {
  await waitFor(`Registry ${name} to be Ready`, async () => (await condition(name, 'Ready'))?.status === 'True', timeoutMs, () => diagnostics(ns));
}

function podman(args: string[], input?: string, allowFailure = false) {
  return tools.podman(args, { ...(input !== undefined ? { input } : {}), allowFailure });
}

async function login(user: string, password: string, allowFailure = false) {
  return podman(['login', '--cert-dir', certDir, '-u', user, '--password-stdin', HOST], password, allowFailure);
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'regop-e2e-'));
  env = await installOperator();
  tools = new ContainerTools(work, env);
  ns = await createNamespace('e2e-operator');
});

after(async () => {
  if (ns) await deleteNamespace(ns);
});

describe('the operator, installed by helm', () => {
  it('passes its helm test (healthy, serving metrics)', async () => {
    const result = await run('helm', ['test', RELEASE, '--namespace', OPERATOR_NS, '--timeout', '120s'], { env, timeoutMs: 180_000, allowFailure: true });
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}\n${await diagnostics(OPERATOR_NS)}`);
  });

  it('turns a Registry into a registry podman pushes to and pulls from, with the CA from its Secret', async () => {
    await kubectl(['-n', ns, 'create', 'secret', 'generic', 'alice-password', '--from-literal=password=alice-first-pw']);
    const started = Date.now();
    await apply(`
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: team }
spec:
  storage: { size: 1Gi }
  service: { type: NodePort, port: 443, nodePort: ${NODE_PORT} }
  auth:
    users:
      - name: admin
      - name: alice
        passwordSecretRef: { name: alice-password }
        access: [{ repositories: ["team/**"], actions: [pull, push] }]
      - name: reader
        access: [{ repositories: ["**"], actions: [pull] }]
`, ns);
    await waitReady('team');
    console.log(`Registry Ready ${((Date.now() - started) / 1000).toFixed(1)}s after kubectl apply`);
    const registry = await getJson(['-n', ns, 'get', 'registry', 'team']);
    assert.equal(registry.status.url, `https://team.${ns}.svc`);
    assert.equal(registry.status.caSecretName, 'team-ca');

    certDir = join(work, 'certs');
    mkdirSync(certDir, { recursive: true });
    writeFileSync(join(certDir, 'ca.crt'), await secretValue(ns, 'team-ca', 'ca.crt'));
    const adminPassword = await secretValue(ns, 'team-user-admin', 'password');
    await waitFor('the registry to answer through the NodePort', async () => (await login('admin', adminPassword, true)).code === 0, 60_000, () => diagnostics(ns));

    await tools.buildImage('localhost/e2e/app:v1', `payload ${Date.now()}`);
    await login('alice', 'alice-first-pw');
    await podman(['push', '--cert-dir', certDir, 'localhost/e2e/app:v1', `${HOST}/team/app:v1`]);
    await podman(['rmi', 'localhost/e2e/app:v1']);
    await podman(['pull', '--cert-dir', certDir, `${HOST}/team/app:v1`]);
  });

  it('reports the storage the registry uses in its status', async () => {
    await waitFor('status.storageUsed', async () => {
      const registry = await getJson(['-n', ns, 'get', 'registry', 'team']);
      // the pushed image is a few hundred bytes: any non-zero quantity
      return /^[1-9]\d*(\.\d)?(Ki|Mi|Gi|Ti)?$/.test(registry?.status?.storageUsed ?? '') ? registry.status.storageUsed : null;
    }, 150_000, () => diagnostics(ns));
  });

  it('refuses a wrong password and a user without push rights', async () => {
    const wrong = await login('alice', 'not-her-password', true);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /401|unauthorized|invalid username/i);
    const readerPassword = await secretValue(ns, 'team-user-reader', 'password');
    await login('reader', readerPassword);
    await podman(['pull', '--cert-dir', certDir, `${HOST}/team/app:v1`]);
    await podman(['tag', `${HOST}/team/app:v1`, `${HOST}/team/app:by-reader`]);
    const push = await podman(['push', '--cert-dir', certDir, `${HOST}/team/app:by-reader`], undefined, true);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /denied|403|unauthorized/i);
  });

  it('takes a changed password without a restart: the new one works, the old one is refused', async () => {
    const podBefore = await registryPod(ns, 'team');
    const templateBefore = (await getJson(['-n', ns, 'get', 'deployment', 'team'])).spec.template;
    const aliceLine = (htpasswd: string) => htpasswd.split('\n').find((line) => line.startsWith('alice:'));
    const lineBefore = aliceLine(await secretValue(ns, 'team-auth', 'htpasswd'));
    await apply(`
apiVersion: v1
kind: Secret
metadata: { name: alice-password }
stringData: { password: alice-second-pw }
`, ns);
    // the operator re-reads referenced Secrets at least every minute; the kubelet then updates the pod's volume
    // in place (within about a minute) and the registry reloads it. Logging in only once the file is there keeps
    // failed logins (and with them a lockout) to a few.
    const htpasswd = await waitFor('the operator to hash the new password', async () => {
      const current = await secretValue(ns, 'team-auth', 'htpasswd');
      return aliceLine(current) !== lineBefore ? current : null;
    }, 120_000, () => diagnostics(ns));
    await waitFor('the pod to see the new htpasswd', async () => (await podFile(ns, podBefore.name, '/etc/regop/auth/htpasswd')) === htpasswd, 180_000, () => diagnostics(ns));
    await waitFor('the new password to work', async () => (await login('alice', 'alice-second-pw', true)).code === 0, 30_000, () => diagnostics(ns));
    assert.notEqual((await login('alice', 'alice-first-pw', true)).code, 0, 'the old password still works');
    assert.deepEqual(await registryPod(ns, 'team'), podBefore, 'the registry pod was replaced or restarted');
    assert.deepEqual((await getJson(['-n', ns, 'get', 'deployment', 'team'])).spec.template, templateBefore, 'the pod template changed');
    secretsSeen.add('alice-first-pw').add('alice-second-pw');
  });

  it('puts back a Deployment deleted by hand', async () => {
    const uid = (await getJson(['-n', ns, 'get', 'deployment', 'team'])).metadata.uid;
    await kubectl(['-n', ns, 'delete', 'deployment', 'team']);
    await waitFor('the Deployment to come back', async () => {
      const deployment = await getJson(['-n', ns, 'get', 'deployment', 'team']);
      return deployment && deployment.metadata.uid !== uid && (deployment.status?.readyReplicas ?? 0) === 1;
    }, 240_000, () => diagnostics(ns));
    await waitReady('team');
  });

  it('rejects what the schema can reject at apply time', async () => {
    const result = await kubectl(['-n', ns, 'apply', '-f', '-'], {
      allowFailure: true,
      input: 'apiVersion: regop.dev/v1alpha1\nkind: Registry\nmetadata: { name: too-many }\nspec:\n  replicas: 3\n',
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /replicas > 1 needs storage.accessMode ReadWriteMany/);
  });

  it('reports a bad Registry as Degraded with an Event, while the good one keeps serving', async () => {
    await apply(`
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: broken }
spec:
  auth:
    users: [{ name: ghost, passwordSecretRef: { name: no-such-secret } }]
`, ns);
    await waitFor('Degraded on the broken Registry', async () => (await condition('broken', 'Degraded'))?.reason === 'PasswordSecretNotFound', 120_000, () => diagnostics(ns));
    const events = await kubectl(['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.name=broken,reason=PasswordSecretNotFound', '-o', 'json']);
    assert.ok(JSON.parse(events.stdout).items.length > 0, 'no Event for the broken Registry');
    // the same mistake made on the running registry: Degraded, yet it keeps serving its last good configuration
    await kubectl(['-n', ns, 'patch', 'registry', 'team', '--type', 'json', '-p',
      JSON.stringify([{ op: 'add', path: '/spec/auth/users/-', value: { name: 'ghost', passwordSecretRef: { name: 'no-such-secret' } } }])]);
    await waitFor('Degraded on the running Registry', async () => (await condition('team', 'Degraded'))?.status === 'True', 120_000, () => diagnostics(ns));
    await podman(['pull', '--cert-dir', certDir, `${HOST}/team/app:v1`]);
    assert.equal((await getJson(['-n', ns, 'get', 'deployment', 'team'])).status.readyReplicas, 1);
    const users: Array<{ name: string }> = (await getJson(['-n', ns, 'get', 'registry', 'team'])).spec.auth.users;
    const ghost = users.findIndex((user) => user.name === 'ghost');
    // `test` makes the removal fail rather than remove another user if the list changed in between
    await kubectl(['-n', ns, 'patch', 'registry', 'team', '--type', 'json', '-p',
      JSON.stringify([{ op: 'test', path: `/spec/auth/users/${ghost}/name`, value: 'ghost' }, { op: 'remove', path: `/spec/auth/users/${ghost}` }])]);
    await waitFor('Degraded to clear', async () => (await condition('team', 'Degraded'))?.status === 'False', 120_000, () => diagnostics(ns));
  });

  it('converges when the operator is killed in the middle of reconciling', async () => {
    await apply(`
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: second }
spec:
  auth: { users: [{ name: admin }] }
`, ns);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await kubectl(['-n', OPERATOR_NS, 'delete', 'pod', '-l', 'app.kubernetes.io/name=regop-operator', '--grace-period=0', '--force'], { allowFailure: true });
    await waitReady('second');
  });

  it('keeps one leader among two operator replicas', async () => {
    await kubectl(['-n', OPERATOR_NS, 'scale', 'deployment', `${RELEASE}`, '--replicas=2']);
    await kubectl(['-n', OPERATOR_NS, 'rollout', 'status', `deployment/${RELEASE}`, '--timeout=180s'], { timeoutMs: 200_000 });
    const pods = (await getJson(['-n', OPERATOR_NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=regop-operator'])).items
      .filter((pod: any) => !pod.metadata.deletionTimestamp).map((pod: any) => pod.metadata.name);
    assert.equal(pods.length, 2);
    const holder = await waitFor('a lease holder', async () => {
      const lease = await getJson(['-n', OPERATOR_NS, 'get', 'lease', RELEASE]);
      return pods.includes(lease?.spec?.holderIdentity) ? lease.spec.holderIdentity as string : null;
    }, 60_000);
    const leaders = [];
    for (const pod of pods) {
      const metrics = await kubectl(['-n', OPERATOR_NS, 'exec', pod, '--', 'node', '-e',
        "fetch('http://127.0.0.1:8081/metrics').then(r=>r.text()).then(t=>console.log((t.match(/^regop_operator_leader (\\d)/m)||[])[1]))"]);
      if (metrics.stdout.trim() === '1') leaders.push(pod);
    }
    assert.deepEqual(leaders, [holder]);
    await kubectl(['-n', OPERATOR_NS, 'scale', 'deployment', `${RELEASE}`, '--replicas=1']);
  });

  it('lets a pod in a pullSecret namespace pull an image from the registry by its status.url host', {
    skip: existsSync(join(cacheDir, 'images', 'busybox-1.35.tar')) ? false : 'needs the busybox image archive npm run cluster:up builds',
  }, async () => {
    // a runnable image: the local cluster's busybox, pushed by alice with skopeo
    const busybox = join(cacheDir, 'images', 'busybox-1.35.tar');
    await run('skopeo', ['copy', '--dest-cert-dir', certDir, '--dest-creds', 'alice:alice-second-pw',
      `docker-archive:${busybox}`, `docker://${HOST}/team/busybox:1`], { env });
    // nothing is written to the node by hand: the node agent points containerd at the registry
    await waitFor('the node agent to configure every node', async () => (await condition('team', 'NodeAccess'))?.status === 'True', 120_000, () => diagnostics(ns));
    const inCluster = new URL((await getJson(['-n', ns, 'get', 'registry', 'team'])).status.url).host;
    const web = await createNamespace('e2e-web');
    try {
      await kubectl(['-n', ns, 'patch', 'registry', 'team', '--type', 'merge', '-p', JSON.stringify({ spec: { pullSecret: { namespaces: [web] } } })]);
      const secret = await waitFor<any>('the pull Secret in the namespace', async () => await getJson(['-n', web, 'get', 'secret', 'team-pull']), 120_000, () => diagnostics(ns));
      assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
      assert.ok(await getJson(['-n', web, 'get', 'configmap', 'team-ca']), 'no CA bundle ConfigMap');
      secretsSeen.add(JSON.parse(Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString()).auths[HOST].password);
      await apply(`
apiVersion: v1
kind: Pod
metadata: { name: pulled }
spec:
  restartPolicy: Never
  imagePullSecrets: [{ name: team-pull }]
  containers:
    - name: main
      image: ${inCluster}/team/busybox:1
      imagePullPolicy: Always
      command: ["/bin/sh", "-c", "ls /bin/busybox && echo pulled-from-regop"]
`, web);
      await waitFor('the pod to run from the pulled image', async () => {
        const pod = await getJson(['-n', web, 'get', 'pod', 'pulled']);
        return pod?.status?.phase === 'Succeeded';
      }, 180_000, () => diagnostics(web));
      assert.match((await kubectl(['-n', web, 'logs', 'pulled'])).stdout, /pulled-from-regop/);
      // removing the namespace from the list removes the copies
      await kubectl(['-n', ns, 'patch', 'registry', 'team', '--type', 'json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/pullSecret' }])]);
      await waitFor('the pull Secret to be removed', async () => (await getJson(['-n', web, 'get', 'secret', 'team-pull'])) === null, 120_000, () => diagnostics(ns));
    } finally {
      await deleteNamespace(web);
    }
  });

  it('removes the children of a deleted Registry and keeps its volume claim', async () => {
    await kubectl(['-n', ns, 'delete', 'registry', 'second', '--wait=true'], { timeoutMs: 120_000 });
    await waitFor('the children to be garbage-collected', async () => {
      const left = await kubectl(['-n', ns, 'get', 'deployment,service,configmap,secret', '-l', 'regop.dev/registry=second', '-o', 'name']);
      return left.stdout.trim() === '';
    }, 120_000, () => diagnostics(ns));
    assert.ok(await getJson(['-n', ns, 'get', 'pvc', 'second-data']), 'the claim was deleted despite reclaimPolicy Retain');
  });

  it('never shows a password in operator or registry logs, Events or status', async () => {
    const texts: string[] = [];
    for (const namespace of [OPERATOR_NS, ns]) {
      const pods = await getJson(['-n', namespace, 'get', 'pods']);
      for (const pod of pods.items) {
        texts.push((await kubectl(['-n', namespace, 'logs', pod.metadata.name, '--all-containers'], { allowFailure: true })).stdout);
      }
      texts.push((await kubectl(['-n', namespace, 'get', 'events', '-o', 'json'])).stdout);
    }
    texts.push((await kubectl(['-n', ns, 'get', 'registries', '-o', 'json'])).stdout);
    const all = texts.join('\n');
    assert.ok(secretsSeen.size >= 3);
    for (const secret of secretsSeen) assert.ok(!all.includes(secret), 'a password appears in logs, Events or status');
  });
});
