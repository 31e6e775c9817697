import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueServingCertificate } from '../certs/certificates.ts';
import { probeRegistry } from './probe.ts';

const ca = await createCertificateAuthority('probe test CA');
const otherCa = await createCertificateAuthority('another CA');
const servers: Server[] = [];

async function serve(names: string[]): Promise<string> {
  const pair = await issueServingCertificate(ca, names);
  const server = createServer({ cert: pair.certPem, key: pair.keyPem }, (_request, response) => response.writeHead(401).end());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let withIp: string;
let withoutIp: string;
before(async () => {
  withIp = await serve(['team.apps.svc', '127.0.0.1']);
  withoutIp = await serve(['team.apps.svc']);
});
after(() => { for (const server of servers) server.close(); });

describe('registry probe', () => {
  it('passes when the address answers with a certificate for it from the CA', async () => {
    assert.deepEqual(await probeRegistry(withIp, ca.certPem), { ok: true });
  });

  it('fails when the certificate does not hold the address', async () => {
    assert.equal((await probeRegistry(withoutIp, ca.certPem) as { reason: string }).reason, 'CertificateNotValidForAddress');
  });

  it('fails when another CA signed it', async () => {
    assert.equal((await probeRegistry(withIp, otherCa.certPem) as { reason: string }).reason, 'CertificateNotTrusted');
  });

  it('fails fast when nothing answers', async () => {
    const result = await probeRegistry('https://127.0.0.1:1', ca.certPem, 1_000);
    assert.equal((result as { reason: string }).reason, 'Unreachable');
  });
});
