import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import {
  certificateSerial, createCertificateAuthority, inspectCertificate, isSignedBy, issueServingCertificate, renewalDueAt,
  servingCertificateRenewalReason, SERVING_VALIDITY_DAYS,
} from './certificates.ts';

const DAY = 86_400_000;

const names = ['reg.ns.svc', 'reg.ns.svc.cluster.local', '127.0.0.1', 'fd00:10:96::a'];
const ca = await createCertificateAuthority('regop test');
const serving = await issueServingCertificate(ca, names);

describe('operator PKI', () => {

  it('issues a serving certificate that Node verifies against the CA, with every name', () => {
    const cert = new X509Certificate(serving.certPem);
    assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
    assert.ok(cert.checkHost('reg.ns.svc.cluster.local'));
    assert.ok(cert.checkIP('127.0.0.1'));
    assert.equal(new X509Certificate(ca.certPem).ca, true);
    assert.deepEqual(inspectCertificate(serving.certPem).names, names);
    assert.ok(isSignedBy(serving.certPem, ca.certPem));
  });

  it('decides renewal: missing, fine, expiring, names changed, other issuer', async () => {
    assert.equal(servingCertificateRenewalReason(undefined, ca, names), 'Missing');
    assert.equal(servingCertificateRenewalReason(serving, ca, names), null);
    assert.equal(servingCertificateRenewalReason(serving, ca, [...names].reverse()), null);
    const late = new Date(Date.now() + (SERVING_VALIDITY_DAYS - 20) * DAY);
    assert.equal(servingCertificateRenewalReason(serving, ca, names, late), 'Expiring');
    assert.equal(servingCertificateRenewalReason(serving, ca, [...names, 'registry.example.com']), 'NamesChanged');
    const otherCa = await createCertificateAuthority('other');
    assert.equal(servingCertificateRenewalReason(serving, otherCa, names), 'IssuerChanged');
    assert.equal(servingCertificateRenewalReason({ certPem: 'garbage', keyPem: 'x' }, ca, names), 'Unparsable');
  });

  it('writes serials as positive integers in minimal DER, whatever the random bytes', () => {
    for (const first of [[0x00, 0x00], [0x00, 0x7f], [0x00, 0x80], [0x80], [0xff], [0x7f]]) {
      const random = Buffer.alloc(16, 0x11);
      Buffer.from(first).copy(random);
      const hex = certificateSerial(random);
      // what forge writes into the certificate
      const der = Buffer.from(forge.asn1.toDer(forge.asn1.create(
        forge.asn1.Class.UNIVERSAL, forge.asn1.Type.INTEGER, false, forge.util.hexToBytes(hex))).getBytes(), 'binary');
      const [content0, content1] = [der[2]!, der[3]!];
      assert.equal(der[1], 16, `${hex}: 16 content bytes`);
      assert.ok(content0 < 0x80, `${hex}: positive`);
      assert.ok(!(content0 === 0 && content1 < 0x80), `${hex}: no redundant leading zero`);
    }
    assert.notEqual(certificateSerial(), certificateSerial());
  });

  it('schedules the renewal well before expiry', () => {
    const due = renewalDueAt(serving.certPem).getTime();
    const days = (due - Date.now()) / DAY;
    assert.ok(days > 55 && days < 62, `renewal in ${days} days`);
  });
});
