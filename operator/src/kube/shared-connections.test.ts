import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createCertificateAuthority, issueServingCertificate } from '../certs/certificates.ts';
import { shareConnections } from './shared-connections.ts';

/** an HTTPS stand-in for the API server that counts the TLS connections it accepted */
let server: Server;
let connections = 0;
let caPem: string;

before(async () => {
  const ca = await createCertificateAuthority('api test CA');
  caPem = ca.certPem;
  const serving = await issueServingCertificate(ca, ['127.0.0.1']);
  server = createServer({ cert: serving.certPem, key: serving.keyPem }, (request, response) => {
    const name = request.url!.split('/').at(-1);
    response.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  });
  server.on('secureConnection', () => { connections++; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
after(() => { server.closeAllConnections(); server.close(); });

function kubeConfigFor(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'test', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'test', token: 'not-a-secret' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return kubeConfig;
}

async function connectionsFor(kubeConfig: KubeConfig, requests: number): Promise<number> {
  const before = connections;
  const api = kubeConfig.makeApiClient(CoreV1Api);
  for (let i = 0; i < requests; i++) assert.equal((await api.readNamespace({ name: `ns-${i}` })).metadata?.name, `ns-${i}`);
  return connections - before;
}

describe('shared API connections', () => {
  it('sends sequential requests over kept-alive TLS connections', async () => {
    // undici's fetch opens a second connection for the second request (the first is handed back to its pool a
    // moment after the body is read); from then on the two serve every request
    assert.ok(await connectionsFor(shareConnections(kubeConfigFor()), 10) <= 2);
  });

  it('is needed: client-node alone opens a connection per request (fails when a release pools them itself)', async () => {
    assert.equal(await connectionsFor(kubeConfigFor(), 3), 3);
  });
});
