// The operator-managed PKI for a Registry: a self-signed CA per Registry and a serving certificate it signs.
// Keys come from Node's native crypto (node-forge's pure-JS RSA key generation takes seconds); node-forge
// builds and inspects the X.509 certificates.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

const DAY_MS = 86_400_000;
export const CA_VALIDITY_DAYS = 3650;
export const SERVING_VALIDITY_DAYS = 90;
/** like cert-manager's default: renew when a third of the lifetime is left */
export const RENEW_WHEN_REMAINING_FRACTION = 1 / 3;

function newKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), keyPem };
}

function serialNumber(): string {
  // positive, 16 random bytes, as RFC 5280 recommends
  return '00' + randomBytes(16).toString('hex');
}

export function createCertificateAuthority(commonName: string, now = new Date()): KeyPair {
  const keys = newKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS);
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'regop' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

function isIpAddress(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}

export function issueServingCertificate(ca: KeyPair, names: string[], now = new Date()): KeyPair {
  if (names.length === 0) throw new Error('a serving certificate needs at least one name');
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = newKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + SERVING_VALIDITY_DAYS * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: names[0]!.slice(0, 64) }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((name) => (isIpAddress(name) ? { type: 7, ip: name } : { type: 2, value: name })),
    },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

export interface CertificateFacts {
  notBefore: Date;
  notAfter: Date;
  names: string[];
}

export function inspectCertificate(certPem: string): CertificateFacts {
  const cert = forge.pki.certificateFromPem(certPem);
  const san = cert.getExtension('subjectAltName') as { altNames?: Array<{ type: number; value?: string; ip?: string }> } | null;
  const names = (san?.altNames ?? []).map((entry) => entry.ip ?? entry.value ?? '').filter((name) => name !== '');
  return { notBefore: cert.validity.notBefore, notAfter: cert.validity.notAfter, names };
}

/** Whether `certPem` was signed by the CA in `caPem`. */
export function isSignedBy(certPem: string, caPem: string): boolean {
  try {
    return forge.pki.certificateFromPem(caPem).verify(forge.pki.certificateFromPem(certPem));
  } catch {
    return false;
  }
}

export type RenewalReason = 'Missing' | 'Unparsable' | 'Expiring' | 'NamesChanged' | 'IssuerChanged';

/**
 * Why a serving certificate must be (re)issued, or null when it is fine: cert-manager's policy chain in
 * miniature. `now` is injected so the decision is testable.
 */
export function servingCertificateRenewalReason(
  current: KeyPair | undefined, ca: KeyPair, wantedNames: string[], now = new Date(),
): RenewalReason | null {
  if (!current?.certPem || !current.keyPem) return 'Missing';
  let facts: CertificateFacts;
  try {
    facts = inspectCertificate(current.certPem);
  } catch {
    return 'Unparsable';
  }
  const lifetime = facts.notAfter.getTime() - facts.notBefore.getTime();
  if (facts.notAfter.getTime() - now.getTime() < lifetime * RENEW_WHEN_REMAINING_FRACTION) return 'Expiring';
  const have = new Set(facts.names);
  if (wantedNames.length !== have.size || wantedNames.some((name) => !have.has(name))) return 'NamesChanged';
  if (!isSignedBy(current.certPem, ca.certPem)) return 'IssuerChanged';
  return null;
}

/** When the next renewal check is due: at the renewal point of the current certificate. */
export function renewalDueAt(certPem: string): Date {
  const facts = inspectCertificate(certPem);
  const lifetime = facts.notAfter.getTime() - facts.notBefore.getTime();
  return new Date(facts.notAfter.getTime() - lifetime * RENEW_WHEN_REMAINING_FRACTION);
}
