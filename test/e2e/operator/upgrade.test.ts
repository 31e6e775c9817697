// `helm upgrade` from an earlier release of the chart, as an admin would do it: the chart then kept its CRDs in
// `crds/`, which Helm installs once and never upgrades, so a field added since would be pruned from every
// Registry. The chart now ships them as templates kept on uninstall: after the upgrade a field the old CRD did not
// know (spec.backup) is kept and acted on, `kubectl explain` describes every field, and uninstalling leaves the
// CRDs and the Registries in place.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, KUBECONFIG, kubectl, waitFor } from '../../support/kube.ts';
import { getRegistry, installOperator, OPERATOR_NAMESPACE, registryReady, RELEASE } from '../../support/operator.ts';
import { isolatedHome, run } from '../../registry/tools.ts';

/** the last commit whose chart had its CRDs in `crds/` and whose Registry CRD had no spec.backup */
const EARLIER_COMMIT = 'f7b47fd';
const CRDS = ['registries.regop.dev', 'retentionpolicies.regop.dev'];
const REGISTRY = 'kept';

function earlierChart(): string | null {
  try {
    const dir = mkdtempSync(join(tmpdir(), 'regop-chart-'));
    execFileSync('bash', ['-c', `git archive ${EARLIER_COMMIT} charts/regop | tar -x -C "${dir}"`], { stdio: 'pipe' });
    return join(dir, 'charts', 'regop');
  } catch {
    return null;
  }
}

const chart = earlierChart();
const skip = chart ? false : `needs the git history (commit ${EARLIER_COMMIT}) for the earlier chart`;
let ns: string;

async function allRegistries(): Promise<string[]> {
  const list = await getJson(['get', 'registries.regop.dev', '--all-namespaces']);
  return (list?.items ?? []).map((r: any) => `${r.metadata.namespace}/${r.metadata.name}`);
}

async function helm(args: string[]) {
  return run('helm', args, { env: { ...isolatedHome(), KUBECONFIG }, timeoutMs: 240_000 });
}

before(async () => {
  if (skip) return;
  // a fresh start from the earlier release: no Registry may be left for the CRDs' deletion to wait on
  await waitFor('no Registry left in the cluster', async () => (await allRegistries()).length === 0, 300_000,
    async () => (await allRegistries()).join(', '));
  await helm(['uninstall', RELEASE, '--namespace', OPERATOR_NAMESPACE, '--wait', '--ignore-not-found']);
  await kubectl(['delete', 'crd', ...CRDS, '--ignore-not-found', '--wait=true', '--timeout=120s']);
  await installOperator(chart!);
  ns = await createNamespace('e2e-upgrade');
});

after(async () => {
  if (ns) await deleteNamespace(ns);
  if (chart) rmSync(join(chart, '..', '..'), { recursive: true, force: true });
  // whatever happened above, leave the current chart installed for what runs next
  if (!skip) await installOperator();
});

describe('helm upgrade from an earlier chart', { skip }, () => {
  it('carries the new CRDs: a field the old one pruned is kept and acted on', async () => {
    await apply(`
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: backups }
spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }
---
apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: ${REGISTRY} }
spec:
  storage: { size: 1Gi }
  auth: { users: [{ name: admin }] }
`, ns);
    await waitFor('the Registry to be Ready under the earlier chart', () => registryReady(ns, REGISTRY), 300_000, () => diagnostics(ns));
    const backup = { schedule: '0 3 * * *', keep: 3, destination: { persistentVolumeClaim: { claimName: 'backups' } } };
    // the earlier CRD does not know spec.backup: the API server prunes it
    await kubectl(['-n', ns, 'patch', 'registry', REGISTRY, '--type', 'merge', '-p', JSON.stringify({ spec: { backup } })]);
    assert.equal((await getRegistry(ns, REGISTRY)).spec.backup, undefined, 'the earlier CRD already knew spec.backup: pick an earlier commit');

    await installOperator();
    for (const crd of CRDS) {
      const object = await getJson(['get', 'crd', crd]);
      assert.equal(object.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', `${crd} is not managed by the release`);
      assert.equal(object.metadata.annotations?.['helm.sh/resource-policy'], 'keep', `${crd} would go with the release`);
    }
    await kubectl(['-n', ns, 'patch', 'registry', REGISTRY, '--type', 'merge', '-p', JSON.stringify({ spec: { backup } })]);
    const kept = (await getRegistry(ns, REGISTRY)).spec.backup;
    assert.deepEqual({ schedule: kept?.schedule, keep: kept?.keep, destination: kept?.destination }, backup);
    await waitFor(`CronJob ${REGISTRY}-backup`, async () => (await getJson(['-n', ns, 'get', 'cronjob', `${REGISTRY}-backup`, '--ignore-not-found']))
      ?.spec?.schedule === backup.schedule, 120_000, () => diagnostics(ns));
    await waitFor('the Registry to be Ready after the upgrade', () => registryReady(ns, REGISTRY), 300_000, () => diagnostics(ns));
  });

  it('kubectl explain describes every field of spec.storage and of a retention policy\'s keep rules', async () => {
    for (const [path, crd, field] of [
      ['registry.spec.storage', 'registries.regop.dev', ['spec', 'storage']],
      ['retentionpolicy.spec.rules.keep', 'retentionpolicies.regop.dev', ['spec', 'rules', 'keep']],
    ] as const) {
      let schema = (await getJson(['get', 'crd', crd])).spec.versions[0].schema.openAPIV3Schema;
      for (const name of field) schema = schema.properties[name];
      const explained = (await kubectl(['explain', path])).stdout.replace(/\s+/g, ' ');
      const names = Object.keys(schema.properties);
      assert.ok(names.length > 3, `${path} has only ${names.join(', ')}`);
      for (const name of names) {
        const description: string | undefined = schema.properties[name].description;
        assert.ok(description, `${path}.${name} has no description`);
        const opening = description.split(/\s+/).slice(0, 4).join(' ');
        assert.ok(explained.includes(`${name}`) && explained.includes(opening), `kubectl explain ${path} does not describe ${name} ("${opening}")`);
      }
    }
  });

  it('leaves the CRDs and the Registries in place when the release is uninstalled', async () => {
    await helm(['uninstall', RELEASE, '--namespace', OPERATOR_NAMESPACE, '--wait']);
    for (const crd of CRDS) assert.ok(await getJson(['get', 'crd', crd]), `${crd} went with the release`);
    assert.ok(await getRegistry(ns, REGISTRY), 'the Registry went with the release');
    // the operator comes back and finds its Registry as it left it
    await installOperator();
    await waitFor('the Registry to be Ready again', () => registryReady(ns, REGISTRY), 300_000, () => diagnostics(ns));
  });
});
