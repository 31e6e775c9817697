// Backups of an operator-managed Registry, end to end: images pushed through the NodePort are backed up by a Job
// made from the Registry's backup CronJob into a claim; a second backup after one more push copies only the new
// blobs; the Registry and its data claim are deleted, a new Registry on the same backup claim restores the newest
// snapshot through its maintenance API, and every image pulls with its digests verified.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { apply, createNamespace, deleteNamespace, diagnostics, kubectl, waitFor } from '../../support/kube.ts';
import { getRegistry, installOperator, nodePortClient, registryReady } from '../../support/operator.ts';
import { pushImage, randomBlob } from '../../support/oci.ts';
import { REGISTRY_API_PORT, REGISTRY_COMMAND } from '../../../registry/src/contract/image.ts';

const NODE_PORT = 30507;
const REGISTRY = 'kept';
const LAYER_BYTES = 512 * 1024;

let ns: string;
const images: { repository: string; tag: string; digest: string }[] = [];

function registryYaml(): string {
  return `
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: ${REGISTRY} }
spec:
  storage: { size: 1Gi }
  service: { type: NodePort, port: 443, nodePort: ${NODE_PORT} }
  auth: { users: [{ name: admin }] }
  backup:
    schedule: "0 3 * * *"
    keep: 5
    destination: { persistentVolumeClaim: { claimName: backups } }
`;
}

async function push(count: number): Promise<void> {
  const client = await nodePortClient(ns, REGISTRY, NODE_PORT);
  try {
    for (let i = 0; i < count; i++) {
      const repository = `team/app${images.length % 2}`;
      const tag = `v${images.length}`;
      images.push({ repository, tag, digest: (await pushImage(client, repository, tag, [randomBlob(LAYER_BYTES)])).digest });
    }
  } finally {
    await client.close();
  }
}

/** runs a backup now, as a user would (`kubectl create job --from=cronjob/...`), and waits for its status */
async function backUpNow(job: string): Promise<any> {
  await kubectl(['-n', ns, 'create', 'job', `--from=cronjob/${REGISTRY}-backup`, job]);
  return waitFor(`status.lastBackup of Job ${job}`, async () => {
    const last = (await getRegistry(ns, REGISTRY))?.status?.lastBackup;
    if (last?.jobName !== job || last.result === 'Running') return null;
    assert.equal(last.result, 'Succeeded', `backup Job ${job}: ${JSON.stringify(last)}`);
    return last;
  }, 300_000, () => diagnostics(ns));
}

before(async () => {
  await installOperator();
  ns = await createNamespace('e2e-backup');
  await apply(`
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: backups }
spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }
`, ns);
  await apply(registryYaml(), ns);
  await waitFor('the Registry to be Ready', () => registryReady(ns, REGISTRY), 300_000, () => diagnostics(ns));
});

after(async () => {
  if (ns) await deleteNamespace(ns);
});

describe('backups of an operator-managed Registry', () => {
  let first: any;

  it('backs up every image into the claim, and a second backup copies only what is new', async () => {
    await push(4);
    first = await backUpNow('first');
    assert.equal(first.images, 4);
    assert.ok(first.bytesCopied >= 4 * LAYER_BYTES, `the first backup copied ${first.bytesCopied} bytes`);
    assert.equal(first.bytesSkipped, 0);
    const events = await kubectl(['-n', ns, 'get', 'events', '--field-selector', 'reason=BackupSucceeded', '-o', 'name']);
    assert.ok(events.stdout.trim().length > 0, 'no BackupSucceeded Event');

    await push(1);
    const second = await backUpNow('second');
    assert.equal(second.images, 5);
    assert.ok(second.bytesSkipped >= first.bytesCopied, `the second backup skipped only ${second.bytesSkipped} bytes`);
    assert.ok(second.bytesCopied >= LAYER_BYTES && second.bytesCopied < 2 * LAYER_BYTES,
      `the second backup copied ${second.bytesCopied} bytes for one new image of ${LAYER_BYTES}`);
  });

  it('restores into a new Registry after the old one and its data are gone, every image pulling with verified digests', async () => {
    await kubectl(['-n', ns, 'delete', 'registry', REGISTRY, '--wait=true', '--timeout=120s']);
    await kubectl(['-n', ns, 'delete', 'pvc', `${REGISTRY}-data`, '--wait=true', '--timeout=120s']);
    await apply(registryYaml(), ns);
    await waitFor('the new Registry to be Ready', () => registryReady(ns, REGISTRY), 300_000, () => diagnostics(ns));

    const client = await nodePortClient(ns, REGISTRY, NODE_PORT);
    try {
      assert.equal((await client.send('GET', `/v2/${images[0]!.repository}/manifests/${images[0]!.tag}`)).status, 404, 'the new Registry is not empty');
      const restore = await kubectl(['-n', ns, 'exec', `deploy/${REGISTRY}`, '--', ...REGISTRY_COMMAND, 'restore',
        '--server', `https://localhost:${REGISTRY_API_PORT}`, '--token-file', '/etc/regop/admin/token', '--ca-file', '/etc/regop/tls/ca.crt',
        '--from', '/var/lib/regop-backup'], { allowFailure: true, timeoutMs: 300_000 });
      assert.equal(restore.code, 0, `restore failed: ${restore.stdout}${restore.stderr}`);

      for (const image of images) {
        const manifest = await client.send('GET', `/v2/${image.repository}/manifests/${image.tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
        assert.equal(manifest.status, 200, `${image.repository}:${image.tag} did not come back`);
        const body = manifest.body;
        assert.equal(`sha256:${createHash('sha256').update(body).digest('hex')}`, image.digest);
        for (const descriptor of [JSON.parse(body.toString()).config, ...JSON.parse(body.toString()).layers]) {
          const blob = await client.send('GET', `/v2/${image.repository}/blobs/${descriptor.digest}`);
          assert.equal(blob.status, 200);
          assert.equal(`sha256:${createHash('sha256').update(blob.body).digest('hex')}`, descriptor.digest, `${image.repository} blob ${descriptor.digest} corrupt`);
        }
      }
    } finally {
      await client.close();
    }
  });
});
