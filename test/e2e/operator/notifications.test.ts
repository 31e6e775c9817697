// The audit trail and webhooks of an operator-managed Registry, end to end: pushes through the NodePort reach a
// receiver pod as CloudEvents with the user, repository, tag and digest, and the header the Registry takes from a
// Secret; the registry pods' stdout carries the same events as audit lines without the password; a second
// endpoint whose Service has no pods drops what does not fit its small queue, pushes all succeed, and the drops
// are counted in the pods' metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, kubectl, waitFor, IMAGE } from '../../support/kube.ts';
import { installOperator, nodePortClient, registryReady, secretText } from '../../support/operator.ts';
import { pushImage, randomBlob } from '../../support/oci.ts';

const NODE_PORT = 30506;
const REGISTRY = 'audited';
const PUSHES = 5;
const TOKEN = `Bearer e2e-${randomBytes(8).toString('hex')}`;

let ns: string;
let adminPassword: string;
const pushed: { tag: string; digest: string }[] = [];

/** prints one JSON line per request: whether its Authorization header was the expected one, and the body */
const RECEIVER = `
  require('node:http').createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      let body = null;
      try { body = JSON.parse(text); } catch {}
      console.log(JSON.stringify({ contentType: req.headers['content-type'], authorized: req.headers.authorization === process.env.EXPECTED, body }));
      res.writeHead(202).end();
    });
  }).listen(8080);`;

function setupYaml(): string {
  return `
apiVersion: v1
kind: Secret
metadata: { name: hook-token }
stringData: { header: "${TOKEN}" }
---
apiVersion: v1
kind: Pod
metadata: { name: receiver, labels: { app: receiver } }
spec:
  containers:
    - name: receiver
      image: ${IMAGE}
      imagePullPolicy: Never
      command: [node, -e, ${JSON.stringify(RECEIVER)}]
      env: [{ name: EXPECTED, valueFrom: { secretKeyRef: { name: hook-token, key: header } } }]
      ports: [{ containerPort: 8080 }]
      readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: receiver }
spec: { selector: { app: receiver }, ports: [{ port: 8080 }] }
---
# no pod has this label: connections to it are refused
apiVersion: v1
kind: Service
metadata: { name: dead }
spec: { selector: { app: nobody }, ports: [{ port: 8080 }] }
---
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: ${REGISTRY} }
spec:
  storage: { size: 1Gi }
  service: { type: NodePort, port: 443, nodePort: ${NODE_PORT} }
  auth: { users: [{ name: admin }] }
  notifications:
    endpoints:
      - name: receiver
        url: http://receiver.${ns}.svc:8080/events
        headersFrom: [{ name: Authorization, secretKeyRef: { name: hook-token, key: header } }]
      - name: dead
        url: http://dead.${ns}.svc:8080/events
        events: [manifest.push]
        timeout: 1s
        retries: 5
        queueSize: 2
`;
}

async function received(): Promise<{ contentType: string; authorized: boolean; body: any }[]> {
  const logs = await kubectl(['-n', ns, 'logs', 'receiver'], { allowFailure: true });
  return logs.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
}

before(async () => {
  await installOperator();
  ns = await createNamespace('e2e-audit');
  await apply(setupYaml(), ns);
  await waitFor('the Registry and the receiver to be ready', async () => (await registryReady(ns, REGISTRY))
    && (await getJson(['-n', ns, 'get', 'pod', 'receiver']))?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
  300_000, () => diagnostics(ns));
  adminPassword = await secretText(ns, `${REGISTRY}-user-admin`, 'password');
  const client = await nodePortClient(ns, REGISTRY, NODE_PORT);
  try {
    for (let i = 0; i < PUSHES; i++) {
      const tag = `v${i}`;
      pushed.push({ tag, digest: (await pushImage(client, 'team/app', tag, [randomBlob(2048)])).digest });
    }
  } finally {
    await client.close();
  }
});

after(async () => {
  if (ns) await deleteNamespace(ns);
});

describe('the audit trail and webhooks of an operator-managed Registry', () => {
  it('delivers every push to the receiver as a CloudEvent with the user, repository, tag, digest and the Secret header', async () => {
    const events = await waitFor('the receiver to get every push', async () => {
      const pushes = (await received()).filter((r) => r.body?.type === 'dev.regop.registry.manifest.pushed');
      return pushes.length >= PUSHES ? pushes : null;
    }, 120_000, () => diagnostics(ns));
    for (const { tag, digest } of pushed) {
      const event = events.find((e) => e.body.data.tag === tag);
      assert.ok(event, `no event for tag ${tag}`);
      assert.match(event.contentType, /^application\/cloudevents\+json/);
      assert.equal(event.authorized, true, 'the Authorization header from the Secret did not arrive');
      assert.equal(event.body.specversion, '1.0');
      assert.deepEqual([event.body.data.user, event.body.data.repository, event.body.data.digest, event.body.data.result],
        ['admin', 'team/app', digest, 'success']);
      assert.ok(event.body.data.clientAddress, 'no client address');
    }
  });

  it('writes the same pushes to the pods\' audit stream, without the password or the header', async () => {
    const pods = (await getJson(['-n', ns, 'get', 'pods', '-l', `app.kubernetes.io/instance=${REGISTRY}`])).items;
    const logs = (await Promise.all(pods.map((p: any) => kubectl(['-n', ns, 'logs', p.metadata.name])))).map((l) => l.stdout).join('\n');
    const audit = logs.split('\n').filter((line) => line.includes('"logger":"audit"')).map((line) => JSON.parse(line));
    for (const { tag, digest } of pushed) {
      assert.ok(audit.some((a) => a.action === 'manifest.push' && a.tag === tag && a.digest === digest && a.user === 'admin'), `no audit line for ${tag}`);
    }
    assert.ok(!logs.includes(adminPassword), 'the password is in the registry log');
    assert.ok(!logs.includes(TOKEN), 'the webhook header is in the registry log');
  });

  it('drops what does not fit a dead endpoint\'s queue and counts it, while every push succeeded', async () => {
    assert.equal(pushed.length, PUSHES);
    const service = await getJson(['-n', ns, 'get', 'service', REGISTRY]);
    const opsPort = service.spec.ports.find((p: { name: string }) => p.name === 'ops').nodePort;
    const count = (metrics: string, name: string) => {
      const line = metrics.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('endpoint="dead"'));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    await waitFor('the dead endpoint\'s drops to be counted', async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      return count(metrics, 'regop_registry_webhook_dropped_total') >= PUSHES - 3 ? metrics : null;
    }, 60_000, () => diagnostics(ns));
  });
});
