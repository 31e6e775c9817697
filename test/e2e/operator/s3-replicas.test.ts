// Stateless replicas on a bucket, end to end: a Registry with storage.s3 and 3 replicas over a real S3 server
// (versitygw on the node's address, which pods reach), podman pushing and pulling through its Service. While a
// client pulls in a loop, the pods are rolled and one is deleted: no pull may fail. The disruption budget and the
// spread are there; the replica count passes to an autoscaler and back without a dip; a Registry whose bucket does not
// exist, or whose credentials Secret is missing, is Degraded and says why.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, kubectl, waitFor } from '../../support/kube.ts';
import { installOperator, registryCondition, secretText } from '../../support/operator.ts';
import { clientFor } from '../../support/http.ts';
import { pushImage, randomBlob } from '../../support/oci.ts';
import type { RunningRegistry } from '../../support/registry.ts';
import { startS3Server, type S3Server } from '../../support/s3-server.ts';
import { run, TOOLS_BIN } from '../../registry/tools.ts';
import { ContainerTools } from '../../support/containers.ts';
import { PullLoop } from './pull-loop.ts';

/** the local cluster's node address, on the pods' bridge: the S3 server listens there so pods reach it */
const NODE_ADDRESS = process.env.REGOP_E2E_NODE_ADDRESS ?? '10.217.0.1';
const NODE_PORT = 30503;
const HOST = `127.0.0.1:${NODE_PORT}`;
const REGISTRY = 'shared';
const BUCKET = 'regop-e2e';
const PREFIX = 'registries/shared';
const REPLICAS = 3;

let ns: string;
let s3: S3Server;
let work: string;
let env: Record<string, string>;
let tools: ContainerTools;
let caPem: string;
let loop: PullLoop | undefined;

async function registryObject(name = REGISTRY): Promise<any> {
  return getJson(['-n', ns, 'get', 'registry', name]);
}

const condition = (name: string, type: string) => registryCondition(ns, name, type);

const secretValue = (name: string, key: string) => secretText(ns, name, key);

/** pods of the Registry that are not on their way out */
async function livePods(name = REGISTRY): Promise<any[]> {
  const pods = await getJson(['-n', ns, 'get', 'pods', '-l', `app.kubernetes.io/instance=${name}`]);
  return (pods?.items ?? []).filter((pod: any) => !pod.metadata.deletionTimestamp);
}

const isReady = (pod: any) => pod.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');

/** every pod runs the Deployment's current template and is ready, and no other pod is left */
async function rolledOut(): Promise<boolean> {
  const deployment = await getJson(['-n', ns, 'get', 'deployment', REGISTRY]);
  const status = deployment?.status ?? {};
  const want = deployment?.spec?.replicas;
  return status.observedGeneration >= deployment.metadata.generation && status.updatedReplicas === want
    && status.readyReplicas === want && status.availableReplicas === want && status.replicas === want;
}

async function report(): Promise<string> {
  return `pull loop: ${loop?.summary() ?? 'not started'}\n--- registry status\n${JSON.stringify((await registryObject())?.status, null, 1)}`
    + `\n${await diagnostics(ns)}\n--- S3 server\n${s3?.logs().slice(-2000) ?? ''}`;
}

/** files under a directory, recursively */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

function podman(args: string[], input?: string) {
  return tools.podman(args, input !== undefined ? { input } : {});
}

function registryYaml(name: string, s3Spec: string, extra = ''): string {
  return `
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: ${name} }
spec:
  storage:
    s3:
${s3Spec}
  auth:
    users:
      - name: alice
        access: [{ repositories: ["**"], actions: [pull, push] }]
      - name: puller
        access: [{ repositories: ["**"], actions: [pull] }]
${extra}`;
}

const hostHoldsNodeAddress = Object.values(networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === NODE_ADDRESS));
const skip = !existsSync(join(TOOLS_BIN, 'versitygw')) ? `needs versitygw in ${TOOLS_BIN} (test/tools/install.sh builds it)`
  : !hostHoldsNodeAddress ? `needs ${NODE_ADDRESS} on this host for the S3 server (set REGOP_E2E_NODE_ADDRESS)` : false;

before(async () => {
  if (skip) return;
  env = await installOperator();
  work = mkdtempSync(join(tmpdir(), 'regop-e2e-s3-'));
  tools = new ContainerTools(work, env);
  ns = await createNamespace('e2e-s3');
  s3 = await startS3Server({ host: NODE_ADDRESS });
  await s3.createBucket(BUCKET);
  await kubectl(['-n', ns, 'create', 'secret', 'generic', 's3-login', `--from-literal=accessKeyId=${s3.accessKey}`, `--from-literal=secretAccessKey=${s3.secretKey}`]);
});

after(async () => {
  if (skip) return;
  await loop?.stop();
  if (ns) await deleteNamespace(ns);
  await s3?.stop();
});

describe('a Registry on an S3 bucket with several replicas', { skip }, () => {
  it(`runs ${REPLICAS} replicas on the bucket behind one Service that podman pushes to and pulls from, with a disruption budget and spread`, async () => {
    await apply(registryYaml(REGISTRY, `      bucket: ${BUCKET}
      prefix: ${PREFIX}
      endpoint: ${s3.endpoint}
      credentialsSecretRef: { name: s3-login }`, `  replicas: ${REPLICAS}
  service: { type: NodePort, port: 443, nodePort: ${NODE_PORT} }
`), ns);
    await waitFor(`Registry ${REGISTRY} to be Ready with ${REPLICAS} replicas`, async () =>
      (await condition(REGISTRY, 'Ready'))?.status === 'True' && (await registryObject())?.status?.readyReplicas === REPLICAS, 300_000, report);

    assert.deepEqual((await getJson(['-n', ns, 'get', 'pvc']))?.items ?? [], [], 'a bucket-backed Registry got a claim');
    const budget = await getJson(['-n', ns, 'get', 'poddisruptionbudget', REGISTRY]);
    assert.equal(budget?.spec?.maxUnavailable, 1);
    const deployment = await getJson(['-n', ns, 'get', 'deployment', REGISTRY]);
    assert.deepEqual(deployment.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const spread = deployment.spec.template.spec.topologySpreadConstraints.map((c: any) => `${c.topologyKey} ${c.whenUnsatisfiable}`);
    assert.deepEqual(spread, ['kubernetes.io/hostname ScheduleAnyway', 'topology.kubernetes.io/zone ScheduleAnyway']);
    const pods = await livePods();
    assert.equal(pods.filter(isReady).length, REPLICAS, 'a one-node cluster still schedules every replica');
    const container = deployment.spec.template.spec.containers[0];
    assert.ok(!JSON.stringify(container.env ?? []).includes(s3.secretKey), 'the secret key is in the environment');

    caPem = await secretValue(`${REGISTRY}-ca`, 'ca.crt');
    const certDir = join(work, 'certs');
    mkdirSync(certDir, { recursive: true });
    writeFileSync(join(certDir, 'ca.crt'), caPem);
    const password = await secretValue(`${REGISTRY}-user-alice`, 'password');
    await waitFor('podman to log in through the NodePort', async () => (await podman(['login', '--cert-dir', certDir, '-u', 'alice', '--password-stdin', HOST], password)).code === 0, 60_000, report);

    // an image of its own: a file from scratch, no RUN step, so the build runs no container
    const context = join(work, 'context');
    mkdirSync(context);
    writeFileSync(join(context, 'payload.txt'), `payload ${Date.now()} ${Math.random()}\n`);
    writeFileSync(join(context, 'Containerfile'), 'FROM scratch\nCOPY payload.txt /payload.txt\n');
    await podman(['build', '--quiet', '-t', 'localhost/e2e/s3:v1', '-f', join(context, 'Containerfile'), context]);
    const before = filesUnder(join(s3.bucketDir(BUCKET), PREFIX)).length;
    await podman(['push', '--cert-dir', certDir, 'localhost/e2e/s3:v1', `${HOST}/team/s3:v1`]);
    await podman(['rmi', 'localhost/e2e/s3:v1']);
    await podman(['pull', '--cert-dir', certDir, `${HOST}/team/s3:v1`]);
    assert.ok(filesUnder(join(s3.bucketDir(BUCKET), PREFIX)).length > before, `nothing was stored in the bucket under ${PREFIX}`);
  });

  it('rolls the pods and loses one while a client pulls in a loop, with 0 failed pulls', async () => {
    assert.ok(caPem, 'the Registry of the previous test is not running');
    const alice = { name: 'alice', password: await secretValue(`${REGISTRY}-user-alice`, 'password') };
    const client = clientFor({ url: `https://${HOST}`, caPem } as RunningRegistry, alice);
    const layers = [randomBlob(256 * 1024), randomBlob(4 * 1024)];
    const manifest = await pushImage(client, 'team/app', 'v1', layers);
    await client.close();

    const puller = { name: 'puller', password: await secretValue(`${REGISTRY}-user-puller`, 'password') };
    loop = new PullLoop({
      host: '127.0.0.1', port: NODE_PORT, caPem, user: puller, repository: 'team/app',
      manifest: { tag: 'v1', digest: manifest.digest }, blobs: layers.map((layer) => layer.digest),
    });
    loop.start();
    await waitFor('the pull loop to be pulling', async () => loop!.requests >= 20, 30_000, report);
    assert.equal(loop.failures.length, 0, `pulls failed before any change: ${loop.summary()}`);

    // a rolling update: a change to the pod template, as a user would make it
    const generation = (await getJson(['-n', ns, 'get', 'deployment', REGISTRY])).metadata.generation;
    const podsBefore = (await livePods()).map((pod) => pod.metadata.name);
    await kubectl(['-n', ns, 'patch', 'registry', REGISTRY, '--type=merge', '-p', '{"spec":{"resources":{"requests":{"cpu":"50m","memory":"64Mi"}}}}']);
    await waitFor('the operator to change the pod template', async () => (await getJson(['-n', ns, 'get', 'deployment', REGISTRY])).metadata.generation > generation, 60_000, report);
    await waitFor('the rolling update to replace every pod', async () => {
      const names = (await livePods()).map((pod) => pod.metadata.name);
      return (await rolledOut()) && names.length === REPLICAS && names.every((name) => !podsBefore.includes(name));
    }, 420_000, report);
    const rolled = loop.requests;

    // one pod deleted, as a node problem or an admin would
    const victim = (await livePods())[0].metadata.name;
    await kubectl(['-n', ns, 'delete', 'pod', victim, '--wait=false']);
    await waitFor('the deleted pod to be replaced, and gone', async () => {
      const all = (await getJson(['-n', ns, 'get', 'pods', '-l', `app.kubernetes.io/instance=${REGISTRY}`]))?.items ?? [];
      return !all.some((pod: any) => pod.metadata.name === victim) && (await livePods()).filter(isReady).length === REPLICAS;
    }, 240_000, report);

    const seen = loop.requests;
    await waitFor('more pulls after the changes', async () => loop!.requests >= seen + 20, 30_000, report);
    await loop.stop();
    console.log(`rolling update and pod deletion under a pull loop: ${rolled} requests until rolled, ${loop.summary()}`);
    assert.equal(loop.failures.length, 0, `pulls failed: ${await report()}`);
  });

  it('hands the replica count to an autoscaler without a dip, and takes it back', async () => {
    // the pods already request CPU (the rolling update above), so only the count changes hands: any change to the
    // Deployment's spec, or any scaling of its pods, would be the dip server-side apply causes when a manager
    // stops applying spec.replicas
    const before = await getJson(['-n', ns, 'get', 'deployment', REGISTRY]);
    const since = new Date(Date.now() - 1000).toISOString();
    await kubectl(['-n', ns, 'patch', 'registry', REGISTRY, '--type=merge', '-p', `{"spec":{"autoscaling":{"minReplicas":${REPLICAS},"maxReplicas":${REPLICAS + 2}}}}`]);
    const autoscaler = await waitFor('the autoscaler to be created and to have looked at the Deployment', async () => {
      const hpa = await getJson(['-n', ns, 'get', 'horizontalpodautoscaler', REGISTRY]);
      return hpa?.status?.conditions?.length ? hpa : null;
    }, 120_000, report);
    assert.deepEqual([autoscaler.spec.minReplicas, autoscaler.spec.maxReplicas], [REPLICAS, REPLICAS + 2]);
    await waitFor('the Registry to be reconciled with autoscaling', async () => {
      const registry = await registryObject();
      return registry.status.observedGeneration === registry.metadata.generation && (await condition(REGISTRY, 'Ready'))?.status === 'True';
    }, 120_000, report);

    const after = await getJson(['-n', ns, 'get', 'deployment', REGISTRY, '--show-managed-fields']);
    assert.equal(after.spec.replicas, REPLICAS);
    assert.equal(after.metadata.generation, before.metadata.generation, 'the Deployment\'s spec changed when the autoscaler took over');
    const owners = after.metadata.managedFields.filter((entry: any) => entry.fieldsV1?.['f:spec']?.['f:replicas']).map((entry: any) => entry.manager);
    assert.ok(owners.length > 0 && !owners.includes('regop-operator'), `the operator still applies spec.replicas (owners: ${owners.join(', ')})`);
    const events = (await getJson(['-n', ns, 'get', 'events', '--field-selector', `involvedObject.kind=Deployment,involvedObject.name=${REGISTRY},reason=ScalingReplicaSet`]))?.items ?? [];
    const scaled = events.filter((event: any) => (event.lastTimestamp ?? event.eventTime ?? '') >= since).map((event: any) => event.message);
    assert.deepEqual(scaled, [], 'pods were scaled when the autoscaler took over');

    await kubectl(['-n', ns, 'patch', 'registry', REGISTRY, '--type=json', '-p', '[{"op":"remove","path":"/spec/autoscaling"}]']);
    await waitFor('the autoscaler to be deleted', async () => (await getJson(['-n', ns, 'get', 'horizontalpodautoscaler', REGISTRY])) === null, 60_000, report);
    const taken = await getJson(['-n', ns, 'get', 'deployment', REGISTRY]);
    assert.equal(taken.spec.replicas, REPLICAS);
    assert.equal(taken.metadata.generation, before.metadata.generation);
  });

  it('reports a bucket that does not exist, and a missing credentials Secret, as Degraded with the reason', async () => {
    await apply(registryYaml('nobucket', `      bucket: no-such-bucket
      endpoint: ${s3.endpoint}
      credentialsSecretRef: { name: s3-login }`), ns);
    await apply(registryYaml('nokeys', `      bucket: ${BUCKET}
      prefix: registries/nokeys
      endpoint: ${s3.endpoint}
      credentialsSecretRef: { name: absent }`), ns);

    const noKeys = await waitFor('Registry nokeys to be Degraded', async () => {
      const degraded = await condition('nokeys', 'Degraded');
      return degraded?.status === 'True' ? degraded : null;
    }, 60_000, report);
    assert.equal(noKeys.reason, 'S3CredentialsNotFound');
    assert.match(noKeys.message, /Secret absent \(credentials of bucket regop-e2e\) not found/);
    assert.equal(await getJson(['-n', ns, 'get', 'deployment', 'nokeys']), null, 'a Deployment was made without its credentials');

    const noBucket = await waitFor('Registry nobucket to be Degraded with the S3 error', async () => {
      const degraded = await condition('nobucket', 'Degraded');
      return degraded?.status === 'True' ? degraded : null;
    }, 240_000, report);
    console.log(`nobucket: Degraded ${noBucket.reason}: ${noBucket.message}`);
    assert.equal(noBucket.reason, 'RegistryNotReady');
    assert.match(noBucket.message, /no-such-bucket/);
    assert.ok(!noBucket.message.includes(s3.secretKey) && !noBucket.message.includes(s3.accessKey), 'a credential is in the condition');
    assert.equal((await condition('nobucket', 'Ready'))?.status, 'False');
    const warnings = (await getJson(['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.name=nobucket,type=Warning']))?.items ?? [];
    assert.ok(warnings.some((event: any) => event.reason === 'RegistryNotReady'), 'no Warning Event for the unreachable bucket');
    await kubectl(['-n', ns, 'delete', 'registry', 'nobucket', 'nokeys', '--wait=false']);
  });
});
