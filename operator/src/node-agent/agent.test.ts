import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Service } from '@kubernetes/client-node';
import pino from 'pino';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { buildService } from '../resources/service.ts';
import { NodeAgent, PREVIOUS_CA_GRACE_MS, withPreviousCa } from './agent.ts';
import { HostsDirectory } from './hosts-directory.ts';
import type { ProbeResult } from './probe.ts';

const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
const CA1 = pem('ONE');
const CA2 = pem('TWO');

let root: string;
let registries: Map<string, Registry>;
let services: Map<string, V1Service>;
let cas: Map<string, { pem?: string }>;
let probeResult: ProbeResult;
let now: number;
let agent: NodeAgent;

function registry(name: string, enabled = true): Registry {
  return {
    apiVersion: 'regop.dev/v1alpha1', kind: 'Registry',
    metadata: { name, namespace: 'apps', uid: `uid-${name}` },
    spec: { nodeAccess: { enabled } } as Registry['spec'],
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Available', message: '', lastTransitionTime: new Date() }] },
  };
}

function add(name: string, ca = CA1): void {
  const r = registry(name);
  registries.set(`apps/${name}`, r);
  const s = buildService(r);
  services.set(`apps/${name}`, { ...s, spec: { ...s.spec, clusterIP: '10.218.0.7' } });
  cas.set(`apps/${name}`, { pem: ca });
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'regop-agent-'));
  registries = new Map();
  services = new Map();
  cas = new Map();
  probeResult = { ok: true };
  now = 1_000_000;
  agent = new NodeAgent({
    node: 'node-a',
    certsDir: '/etc/containerd/certs.d',
    directory: new HostsDirectory(root),
    registry: (ns, n) => registries.get(`${ns}/${n}`),
    service: (ns, n) => services.get(`${ns}/${n}`),
    ca: (ns, n) => cas.get(`${ns}/${n}`),
    nodeCredentials: () => ({ username: '_node', password: 'pw' }),
    synced: () => true,
    confirmGone: async (ns, n) => !registries.has(`${ns}/${n}`),
    probe: async () => probeResult,
    reportChanged: () => undefined,
    logger: pino({ level: 'silent' }),
    now: () => now,
  });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const hostsFile = () => join(root, 'team.apps.svc', 'hosts.toml');
const caFile = () => join(root, 'team.apps.svc', 'ca.crt');

describe('node agent', () => {
  it('writes the files of a Ready Registry and reports the node configured', async () => {
    add('team');
    await agent.reconcile('apps/team');
    assert.match(readFileSync(hostsFile(), 'utf8'), /server = "https:\/\/10\.218\.0\.7"/);
    assert.equal(agent.report().registries['apps/team']?.configured, true);
  });

  it('writes nothing while the address fails its probe, and says why', async () => {
    add('team');
    probeResult = { ok: false, reason: 'CertificateNotValidForAddress', message: 'no' };
    assert.deepEqual(await agent.reconcile('apps/team'), { requeueAfterMs: 5_000 });
    assert.equal(existsSync(hostsFile()), false);
    assert.equal(agent.report().registries['apps/team']?.reason, 'CertificateNotValidForAddress');
  });

  it('removes the files when the Registry is deleted or opts out, also after an agent restart', async () => {
    add('team');
    await agent.reconcile('apps/team');
    registries.set('apps/team', registry('team', false));
    await agent.reconcile('apps/team');
    assert.equal(existsSync(hostsFile()), false);
    assert.equal(agent.report().registries['apps/team'], undefined);

    add('team');
    await agent.reconcile('apps/team');
    registries.delete('apps/team');
    const restarted = new NodeAgent({ ...(agent as unknown as { deps: ConstructorParameters<typeof NodeAgent>[0] }).deps });
    assert.deepEqual(await restarted.load(), ['apps/team']);
    await restarted.reconcile('apps/team');
    assert.equal(existsSync(join(root, 'team.apps.svc')), false);
  });

  it('trusts the old CA beside the new one for a grace period after a rotation', async () => {
    add('team', CA1);
    await agent.reconcile('apps/team');
    cas.set('apps/team', { pem: CA2 });
    const outcome = await agent.reconcile('apps/team');
    assert.equal(readFileSync(caFile(), 'utf8'), withPreviousCa(CA2, CA1));
    assert.deepEqual(outcome, { requeueAfterMs: PREVIOUS_CA_GRACE_MS });
    now += PREVIOUS_CA_GRACE_MS;
    await agent.reconcile('apps/team');
    assert.equal(readFileSync(caFile(), 'utf8'), CA2);
  });

  it('does not take a Registry missing from a cache that is still filling for a deleted one', async () => {
    add('team');
    await agent.reconcile('apps/team');
    const deps = (agent as unknown as { deps: ConstructorParameters<typeof NodeAgent>[0] }).deps;
    const filling = new NodeAgent({ ...deps, registry: () => undefined, confirmGone: async () => false });
    await filling.load();
    assert.deepEqual(await filling.reconcile('apps/team'), { requeueAfterMs: 1_000 });
    assert.equal(existsSync(hostsFile()), true);
  });

  it('does not take a missing Registry for a deleted one before its caches are synced', async () => {
    add('team');
    await agent.reconcile('apps/team');
    registries.clear();
    const cold = new NodeAgent({ ...(agent as unknown as { deps: ConstructorParameters<typeof NodeAgent>[0] }).deps, synced: () => false });
    await cold.load();
    assert.deepEqual(await cold.reconcile('apps/team'), { requeueAfterMs: 1_000 });
    assert.equal(existsSync(hostsFile()), true);
  });

  describe('mirrors', () => {
    const mirrored = () => join(root, '10.217.0.1:24443');
    function withMirrors(name: string, hosts: string[], ready = true): void {
      add(name);
      const r = registries.get(`apps/${name}`)!;
      r.spec.mirrors = hosts.map((host) => ({ registry: host, upstream: `https://${host}` }));
      if (!ready) r.status = { conditions: [{ type: 'Ready', status: 'False', reason: 'ScaledToZero', message: '', lastTransitionTime: new Date() }] };
    }

    it('points a mirrored host at the registry first, readable by root only, and reports it', async () => {
      withMirrors('team', ['10.217.0.1:24443']);
      await agent.reconcile('apps/team');
      const hosts = readFileSync(join(mirrored(), 'hosts.toml'), 'utf8');
      assert.match(hosts, /^server = "https:\/\/10\.217\.0\.1:24443"$/m);
      assert.match(hosts, /\[host\."https:\/\/10\.218\.0\.7"\]/);
      assert.equal(statSync(join(mirrored(), 'hosts.toml')).mode & 0o777, 0o600);
      assert.equal(readFileSync(join(mirrored(), 'ca.crt'), 'utf8'), CA1);
      assert.deepEqual(agent.report().registries['apps/team']?.mirrors?.['10.217.0.1:24443']?.configured, true);
    });

    it('keeps a mirror\'s files while the Registry is not Ready (nodes fall back to the upstream), removes them when the mirror or the Registry goes', async () => {
      withMirrors('team', ['10.217.0.1:24443', 'docker.io']);
      await agent.reconcile('apps/team');
      withMirrors('team', ['10.217.0.1:24443', 'docker.io'], false);
      await agent.reconcile('apps/team');
      assert.equal(existsSync(join(mirrored(), 'hosts.toml')), true);
      withMirrors('team', ['docker.io']);
      await agent.reconcile('apps/team');
      assert.equal(existsSync(mirrored()), false);
      assert.equal(existsSync(join(root, 'docker.io', 'hosts.toml')), true);
      registries.delete('apps/team');
      await agent.reconcile('apps/team');
      assert.equal(existsSync(join(root, 'docker.io')), false);
    });

    it('leaves an admin\'s hosts.toml for the mirrored host alone, reports it, and still serves its own host', async () => {
      mkdirSync(join(root, 'docker.io'));
      writeFileSync(join(root, 'docker.io', 'hosts.toml'), 'server = "https://mirror.example"\n');
      withMirrors('team', ['docker.io']);
      await agent.reconcile('apps/team');
      assert.equal(readFileSync(join(root, 'docker.io', 'hosts.toml'), 'utf8'), 'server = "https://mirror.example"\n');
      const entry = agent.report().registries['apps/team'];
      assert.equal(entry?.configured, true);
      assert.equal(entry?.mirrors?.['docker.io']?.reason, 'HostsFileNotOurs');
      assert.equal(existsSync(hostsFile()), true);
    });

    it('gives one mirrored host to the first Registry that claims it', async () => {
      withMirrors('team', ['docker.io']);
      withMirrors('other', ['docker.io']);
      await agent.reconcile('apps/team');
      await agent.reconcile('apps/other');
      assert.equal(agent.report().registries['apps/other']?.mirrors?.['docker.io']?.reason, 'HostsFileNotOurs');
      assert.match(readFileSync(join(root, 'docker.io', 'hosts.toml'), 'utf8'), /for Registry apps\/team/);
    });
  });
});
