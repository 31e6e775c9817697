import { strict as assert } from 'node:assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeConfig, type V1Lease } from '@kubernetes/client-node';
import pino from 'pino';
import { createOperator, type Operator } from './operator.ts';

// The operator against a stand-in API server on loopback: it answers the Lease API, empty lists for every informer
// and holds watches open. Enough to prove that createOperator() starts (lease, informers, caches, loops, health
// server) and stops (every watch closed, the lease released, the port closed) inside one process, with no exit.

const NAMESPACE = 'regop-system';
const LEASE_PATH = `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`;
const PORT_BASE = 20000 + Math.floor(Math.random() * 9000);

interface ApiServer {
  server: Server;
  lease: V1Lease | null;
  version: number;
  /** watch requests still open, by path */
  openWatches: Map<ServerResponse, string>;
  listed: Set<string>;
}

function body(request: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    let text = '';
    request.on('data', (chunk) => { text += chunk; });
    request.on('end', () => resolve(text ? JSON.parse(text) : undefined));
  });
}

async function startApiServer(port: number): Promise<ApiServer> {
  const api: ApiServer = { server: undefined as unknown as Server, lease: null, version: 1, openWatches: new Map(), listed: new Set() };
  const json = (response: ServerResponse, status: number, value: unknown) =>
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  api.server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith(LEASE_PATH)) {
      if (request.method === 'GET') {
        if (!api.lease) return json(response, 404, { kind: 'Status', code: 404, reason: 'NotFound' });
        return json(response, 200, api.lease);
      }
      const lease = await body(request) as V1Lease;
      if (request.method === 'PUT' && lease.metadata?.resourceVersion !== api.lease?.metadata?.resourceVersion) {
        return json(response, 409, { kind: 'Status', code: 409, reason: 'Conflict' });
      }
      api.lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++api.version) } };
      return json(response, request.method === 'POST' ? 201 : 200, api.lease);
    }
    if (url.searchParams.get('watch') === 'true') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.flushHeaders();
      api.openWatches.set(response, url.pathname);
      response.on('close', () => api.openWatches.delete(response));
      return;
    }
    if (request.method === 'GET') {
      api.listed.add(url.pathname);
      return json(response, 200, { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: String(api.version) }, items: [] });
    }
    // an Event, or anything else the operator writes: accepted
    return json(response, 201, await body(request));
  });
  await new Promise<void>((resolve) => api.server.listen(port, '127.0.0.1', resolve));
  return api;
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function status(port: number, path: string): Promise<number | 'refused'> {
  try {
    return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
  } catch {
    return 'refused';
  }
}

describe('createOperator', () => {
  let api: ApiServer;
  let kubeConfig: KubeConfig;
  const logger = pino({ level: 'silent' });
  const make = (identity: string, healthPort: number, onLeadershipLost?: () => void): Operator => createOperator({
    kubeConfig, logger, image: 'regop:test', identity, namespace: NAMESPACE, leaseName: 'regop-operator',
    nodeAgentDaemonSet: 'regop-operator-node-agent', healthPort, healthHost: '127.0.0.1',
    leaderElection: { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 100 },
    ...(onLeadershipLost ? { onLeadershipLost } : {}),
  });

  before(async () => {
    api = await startApiServer(PORT_BASE);
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'test', server: `http://127.0.0.1:${PORT_BASE}`, skipTLSVerify: true }],
      users: [{ name: 'test' }],
      contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
      currentContext: 'test',
    });
  });

  after(() => new Promise<void>((resolve) => {
    api.server.closeAllConnections();
    api.server.close(() => resolve());
  }));

  it('takes the lease, watches every kind it caches, reports ready, and on stop closes its watches, releases the lease and its port', async () => {
    const operator = make('replica-a', PORT_BASE + 1);
    await operator.start();
    const port = operator.healthPort()!;
    assert.equal(port, PORT_BASE + 1);
    assert.equal(await status(port, '/healthz'), 200);

    await until(() => operator.isLeading(), 'leadership');
    assert.equal(api.lease?.spec?.holderIdentity, 'replica-a');
    await until(() => api.openWatches.size === 11, 'a watch per informer');
    for (const path of ['/apis/regop.dev/v1alpha1/registries', '/apis/regop.dev/v1alpha1/retentionpolicies', '/api/v1/nodes',
      '/api/v1/secrets', '/api/v1/configmaps', '/api/v1/services', '/apis/apps/v1/deployments', '/apis/batch/v1/jobs',
      '/apis/batch/v1/cronjobs', '/apis/networking.k8s.io/v1/ingresses', `/api/v1/namespaces/${NAMESPACE}/configmaps`]) {
      assert.ok(api.listed.has(path), `${path} was not listed`);
    }
    await until(async () => (await status(port, '/readyz')) === 200, 'ready');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^regop_operator_leader 1$/m);

    await operator.stop();
    assert.equal(api.openWatches.size, 0, `watches left open: ${[...api.openWatches.values()].join(', ')}`);
    assert.equal(api.lease?.spec?.holderIdentity, undefined, 'the lease was not released');
    assert.equal(await status(port, '/healthz'), 'refused');
    assert.equal(operator.isLeading(), false);
    await operator.stop();
  });

  it('hands the lease to a standby replica once the leader stops, and tells the one that loses it', async () => {
    let lost = 0;
    const a = make('replica-a', PORT_BASE + 2, () => { lost++; });
    const b = make('replica-b', PORT_BASE + 3);
    await a.start();
    await until(() => a.isLeading(), 'a leading');
    await b.start();
    // a standby replica is ready: it only waits for the lease
    assert.equal(await status(b.healthPort()!, '/readyz'), 200);
    assert.equal(b.isLeading(), false);

    // another holder takes the lease behind a's back: a must step down and say so
    api.lease = { ...api.lease!, spec: { ...api.lease!.spec, holderIdentity: 'replica-z' }, metadata: { ...api.lease!.metadata, resourceVersion: String(++api.version) } };
    await until(() => lost === 1, 'a told of its loss');
    assert.equal(a.isLeading(), false);
    await a.stop();
    assert.equal(api.lease?.spec?.holderIdentity, 'replica-z', 'a replica that lost the lease released it');

    // replica-z stops renewing; b takes over once the lease has stood still for its duration
    await until(() => b.isLeading(), 'b leading', 8_000);
    await b.stop();
    assert.equal(api.openWatches.size, 0);
  });
});
