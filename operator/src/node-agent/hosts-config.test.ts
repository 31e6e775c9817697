import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { parse } from 'smol-toml';
import type { Registry, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { buildService } from '../resources/service.ts';
import { CA_FILE, HOSTS_FILE, ownerOf, planNodeAccess, UPSTREAM_CA_FILE, type NodeAccessInputs } from './hosts-config.ts';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const CERTS_DIR = '/etc/containerd/certs.d';

function registry(spec: RegistrySpec & { nodeAccess?: { enabled?: boolean } } = {}, ready = true): Registry {
  return {
    apiVersion: 'regop.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name: 'team', namespace: 'apps', uid: 'uid-1', generation: 1 },
    spec,
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: 'x', message: '', lastTransitionTime: new Date() }] },
  };
}

function service(of: Registry, clusterIP = '10.218.0.55'): V1Service {
  const built = buildService(of);
  return { ...built, spec: { ...built.spec, clusterIP } };
}

function plan(overrides: Partial<NodeAccessInputs> & { registry: Registry }) {
  return planNodeAccess({ service: service(overrides.registry), ca: { pem: CA }, certsDir: CERTS_DIR, ...overrides });
}

describe('hosts.toml builder', () => {
  it('points the Service name at its ClusterIP, trusting the Registry CA, for pulls only', () => {
    const result = plan({ registry: registry() });
    assert.equal(result.action, 'write');
    if (result.action !== 'write') return;
    assert.equal(result.host, 'team.apps.svc');
    assert.equal(result.server, 'https://10.218.0.55');
    assert.equal(result.files[CA_FILE], CA);
    const toml = { ...parse(result.files[HOSTS_FILE]!) };
    const settings = { capabilities: ['pull', 'resolve'], ca: '/etc/containerd/certs.d/team.apps.svc/ca.crt' };
    assert.deepEqual(JSON.parse(JSON.stringify(toml)), { server: 'https://10.218.0.55', ...settings, host: { 'https://10.218.0.55': settings } });
    assert.equal(ownerOf(result.files[HOSTS_FILE]!), 'apps/team');
    assert.doesNotMatch(result.files[HOSTS_FILE]!, /skip_verify/);
  });

  it('keeps a non-default port in both the host directory and the server address', () => {
    const r = registry({ service: { port: 5443 } });
    const result = plan({ registry: r });
    assert.equal(result.action === 'write' && result.host, 'team.apps.svc:5443');
    assert.equal(result.action === 'write' && result.server, 'https://10.218.0.55:5443');
  });

  it('brackets an IPv6 ClusterIP', () => {
    const r = registry();
    const result = plan({ registry: r, service: service(r, 'fd00:10:96::1') });
    assert.equal(result.action === 'write' && result.server, 'https://[fd00:10:96::1]');
  });

  it('writes a plain-HTTP entry only for its own host when TLS is disabled, and no CA', () => {
    const r = registry({ tls: { mode: 'Disabled' }, service: { port: 80 } });
    const result = plan({ registry: r, ca: undefined });
    assert.equal(result.action, 'write');
    if (result.action !== 'write') return;
    assert.equal(result.plainHttp, true);
    assert.deepEqual(Object.keys(result.files), [HOSTS_FILE]);
    const settings = { capabilities: ['pull', 'resolve'] };
    assert.deepEqual(JSON.parse(JSON.stringify(parse(result.files[HOSTS_FILE]!))), { server: 'http://10.218.0.55', ...settings, host: { 'http://10.218.0.55': settings } });
  });

  it('trusts the system roots when the Registry has no private CA', () => {
    const result = plan({ registry: registry({ tls: { mode: 'Secret', secretName: 'mine' } }), ca: {} });
    assert.equal(result.action, 'write');
    if (result.action !== 'write') return;
    assert.deepEqual(Object.keys(result.files), [HOSTS_FILE]);
    assert.doesNotMatch(result.files[HOSTS_FILE]!, /^\s*ca = /m);
  });

  it('uses the Service name, never an Ingress host, so no Registry can redirect a name it does not own', () => {
    const result = plan({ registry: registry({ ingress: { host: 'docker.io' } }) });
    assert.equal(result.action === 'write' && result.host, 'team.apps.svc');
  });

  it('waits for Ready, for a ClusterIP and for the published CA', () => {
    assert.equal(plan({ registry: registry({}, false) }).action, 'wait');
    assert.deepEqual(plan({ registry: registry({}, false) }), { action: 'wait', reason: 'RegistryNotReady', message: 'waiting for the Registry to be Ready' });
    const r = registry();
    assert.equal((plan({ registry: r, service: undefined }) as { reason: string }).reason, 'ServiceHasNoClusterIP');
    assert.equal((plan({ registry: r, service: service(r, 'None') }) as { reason: string }).reason, 'ServiceHasNoClusterIP');
    assert.equal((plan({ registry: r, ca: undefined }) as { reason: string }).reason, 'WaitingForCA');
  });

  it('removes the files of a Registry that opted out, Ready or not', () => {
    assert.equal(plan({ registry: registry({ nodeAccess: { enabled: false } }) }).action, 'remove');
    assert.equal(plan({ registry: registry({ nodeAccess: { enabled: false } }, false) }).action, 'remove');
  });

  it('never throws on a malformed Registry', () => {
    const broken = [
      { metadata: { name: 'x', namespace: 'y' } },
      { metadata: {}, spec: {} },
      { metadata: { name: 'x', namespace: 'y' }, spec: { service: { port: 'not-a-port' } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      { metadata: { name: 'x', namespace: 'y' }, spec: null, status: { conditions: 'nope' } },
      { metadata: { name: 'UPPER/../x', namespace: 'y' }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    ] as unknown as Registry[];
    for (const r of broken) {
      const result = planNodeAccess({ registry: r, service: undefined, ca: { pem: CA }, certsDir: CERTS_DIR });
      assert.equal(result.action, 'wait', JSON.stringify(r));
    }
  });

  it('refuses a name that would leave the hosts directory', () => {
    const r = { ...registry(), metadata: { name: 'x/../../etc', namespace: 'apps' } } as Registry;
    assert.equal((plan({ registry: r, service: service(registry()) }) as { reason: string }).reason, 'InvalidRegistry');
  });

  it('tells its own files from anyone else\'s by the first line', () => {
    assert.equal(ownerOf('server = "https://mirror.example"\n'), null);
    assert.equal(ownerOf(''), null);
  });

  describe('mirrored hosts', () => {
    const UPSTREAM_CA = '-----BEGIN CERTIFICATE-----\nMIIU\n-----END CERTIFICATE-----\n';
    const credentials = { username: '_node', password: 's3cret' };
    const mirror = { registry: '10.217.0.1:24443', upstream: 'https://10.217.0.1:24443/' };

    it('tries the registry first with the nodes\' credentials, and the upstream (trusted by its own CA) as the fallback', () => {
      const r = registry({ mirrors: [{ ...mirror, ca: { configMapKeyRef: { name: 'up' } } }] });
      const result = plan({ registry: r, nodeCredentials: credentials, ca: { pem: CA, upstreamCas: { '10.217.0.1-24443': UPSTREAM_CA } } });
      assert.equal(result.action, 'write');
      if (result.action !== 'write') return;
      const [only] = result.mirrors;
      assert.ok(only && 'files' in only);
      assert.equal(only.host, '10.217.0.1:24443');
      assert.equal(only.files[CA_FILE], CA);
      assert.equal(only.files[UPSTREAM_CA_FILE], UPSTREAM_CA);
      const dir = '/etc/containerd/certs.d/10.217.0.1:24443';
      assert.deepEqual(JSON.parse(JSON.stringify(parse(only.files[HOSTS_FILE]!))), {
        server: 'https://10.217.0.1:24443',
        ca: `${dir}/upstream-ca.crt`,
        host: {
          'https://10.218.0.55': {
            capabilities: ['pull', 'resolve'],
            ca: `${dir}/ca.crt`,
            header: { Authorization: [`Basic ${Buffer.from('_node:s3cret').toString('base64')}`] },
          },
        },
      });
      assert.equal(ownerOf(only.files[HOSTS_FILE]!), 'apps/team');
    });

    it('waits for the nodes\' credentials and for a declared upstream CA instead of writing a mirror nodes cannot use', () => {
      const noCredentials = plan({ registry: registry({ mirrors: [mirror] }) });
      assert.deepEqual(noCredentials.action === 'write' && noCredentials.mirrors.map((m) => 'reason' in m && m.reason), ['WaitingForNodeCredentials']);
      const noCa = plan({ registry: registry({ mirrors: [{ ...mirror, ca: { secretKeyRef: { name: 'up' } } }] }), nodeCredentials: credentials });
      assert.deepEqual(noCa.action === 'write' && noCa.mirrors.map((m) => 'reason' in m && m.reason), ['WaitingForCA']);
    });

    it('writes no mirror for a spec the API server should have refused: another Registry\'s Service name, a plain-HTTP upstream', () => {
      for (const bad of [{ registry: 'other.apps.svc', upstream: 'https://x' }, { registry: 'docker.io', upstream: 'http://x' }]) {
        const result = plan({ registry: registry({ mirrors: [bad] }), nodeCredentials: credentials });
        assert.equal(result.action === 'write' && result.mirrors.every((m) => !('files' in m)), true);
      }
    });

    it('has no mirrors without spec.mirrors', () => {
      const result = plan({ registry: registry() });
      assert.deepEqual(result.action === 'write' && result.mirrors, []);
    });
  });
});
