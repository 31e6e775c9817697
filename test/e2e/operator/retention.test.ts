// RetentionPolicy end to end: a dry run shows the plan and changes nothing; the real run deletes exactly the tags
// the rules do not keep, garbage-collects their blobs, and reports the counts in status and an Event.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, kubectl, waitFor } from '../../support/kube.ts';
import { installOperator } from '../../support/operator.ts';
import { clientFor, type Client } from '../../support/http.ts';
import { pushImage, randomBlob } from '../../support/oci.ts';
import type { RunningRegistry } from '../../support/registry.ts';

const NODE_PORT = 30501;
let ns: string;
let client: Client;

async function policyStatus(name: string): Promise<any> {
  return (await getJson(['-n', ns, 'get', 'retentionpolicy', name]))?.status;
}

async function tags(): Promise<string[]> {
  return ((await client.send('GET', '/v2/app/tags/list')).json().tags as string[]).sort();
}

async function runNow(policy: string, job: string): Promise<any> {
  await kubectl(['-n', ns, 'create', 'job', job, `--from=cronjob/${policy}-retention`]);
  return waitFor(`retention Job ${job} to be reported`, async () => {
    const status = await policyStatus(policy);
    return status?.lastRun?.jobName === job && status.lastRun.result !== 'Running' ? status : null;
  }, 240_000, () => diagnostics(ns));
}

before(async () => {
  await installOperator();
  ns = await createNamespace('e2e-retention');
  await apply(`
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: ret }
spec:
  storage: { size: 1Gi }
  service: { type: NodePort, port: 443, nodePort: ${NODE_PORT} }
  auth: { users: [{ name: admin }] }
`, ns);
  await waitFor('the Registry to be Ready', async () => {
    const registry = await getJson(['-n', ns, 'get', 'registry', 'ret']);
    return registry?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
  }, 240_000, () => diagnostics(ns));
  const secret = async (name: string, key: string) => Buffer.from((await getJson(['-n', ns, 'get', 'secret', name])).data[key], 'base64').toString();
  const target = { url: `https://127.0.0.1:${NODE_PORT}`, caPem: await secret('ret-ca', 'ca.crt') } as RunningRegistry;
  client = clientFor(target, { name: 'admin', password: await secret('ret-user-admin', 'password') });
  await waitFor('the registry to answer', async () => (await client.send('GET', '/v2/')).status === 200, 60_000);
  const base = randomBlob(100_000);
  for (const tag of ['v1', 'v2', 'dev-1', 'dev-2', 'dev-3']) await pushImage(client, 'app', tag, [base, randomBlob(50_000)]);
});

after(async () => {
  await client?.close();
  if (ns) await deleteNamespace(ns);
});

describe('RetentionPolicy', () => {
  it('reports a policy naming a missing Registry and retries', async () => {
    await apply(`
apiVersion: regop.dev/v1alpha1
kind: RetentionPolicy
metadata: { name: orphan }
spec:
  registryRef: { name: nowhere }
  schedule: "0 3 * * *"
  rules: { repositories: { include: ["**"] }, keep: { mostRecentlyPushed: 1 } }
`, ns);
    await waitFor('RegistryNotFound', async () => (await policyStatus('orphan'))?.conditions?.some((c: any) => c.reason === 'RegistryNotFound'), 120_000, () => diagnostics(ns));
  });

  it('shows the plan on a dry run and deletes nothing', async () => {
    await apply(`
apiVersion: regop.dev/v1alpha1
kind: RetentionPolicy
metadata: { name: cleanup }
spec:
  registryRef: { name: ret }
  schedule: "0 3 1 1 *"
  dryRun: true
  gc: { enabled: true, gracePeriod: 0s }
  rules:
    repositories: { include: ["**"] }
    keep: { tags: ["v*"] }
`, ns);
    await waitFor('the CronJob', async () => await getJson(['-n', ns, 'get', 'cronjob', 'cleanup-retention']), 120_000, () => diagnostics(ns));
    const status = await runNow('cleanup', 'dry-1');
    assert.equal(status.lastRun.result, 'Succeeded', JSON.stringify(status));
    assert.deepEqual(status.plan, [{ repository: 'app', deleteTags: ['dev-1', 'dev-2', 'dev-3'], deleteManifests: 3 }]);
    assert.equal(status.tagsDeleted, 0);
    assert.deepEqual(await tags(), ['dev-1', 'dev-2', 'dev-3', 'v1', 'v2']);
    assert.ok(status.nextRun);
  });

  it('deletes exactly the tags no rule keeps, collects their blobs, and reports the counts', async () => {
    await kubectl(['-n', ns, 'patch', 'retentionpolicy', 'cleanup', '--type', 'merge', '-p', '{"spec":{"dryRun":false}}']);
    await waitFor('the CronJob to drop --dry-run', async () => {
      const cronJob = await getJson(['-n', ns, 'get', 'cronjob', 'cleanup-retention']);
      return !cronJob.spec.jobTemplate.spec.template.spec.containers[0].args.includes('--dry-run');
    }, 120_000);
    const status = await runNow('cleanup', 'real-1');
    assert.equal(status.lastRun.result, 'Succeeded', JSON.stringify(status));
    assert.deepEqual(await tags(), ['v1', 'v2']);
    assert.equal(status.tagsDeleted, 3);
    assert.equal(status.manifestsDeleted, 3);
    assert.equal(status.blobsDeleted, 9, 'three manifests, their configs and their own layers');
    assert.ok(status.bytesFreed >= 150_000, `freed ${status.bytesFreed}`);
    for (const tag of ['v1', 'v2']) {
      const manifest = (await client.send('GET', `/v2/app/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json();
      for (const layer of manifest.layers) assert.equal((await client.send('HEAD', `/v2/app/blobs/${layer.digest}`)).status, 200);
    }
    const events = await kubectl(['-n', ns, 'get', 'events', '--field-selector', 'involvedObject.name=cleanup,reason=RunSucceeded', '-o', 'json']);
    assert.ok(JSON.parse(events.stdout).items.length >= 2, 'an Event per run');
  });
});
