// The operator-managed PKI for a Registry: a self-signed CA per Registry and a serving certificate it signs.
// node-forge builds the X.509 structure; everything costly is Node's native crypto: keys are generated and
// certificates signed off the event loop (forge's pure-JS RSA took ~100 ms of it per certificate, which 50
// Registries applied at once queued up behind), and certificates are inspected and verified with X509Certificate.
import { createPrivateKey, generateKeyPair, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
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

const generateRsaKeyPair = promisify(generateKeyPair);
const signAsync = promisify(sign);

/** a key pair for one certificate, generated ahead when it can be made alongside another */
export interface CertificateKeys {
  privateKey: KeyObject;
  publicKey: forge.pki.rsa.PublicKey;
  keyPem: string;
}

export async function generateKeys(): Promise<CertificateKeys> {
  const { privateKey, publicKey } = await generateRsaKeyPair('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { privateKey, publicKey: forge.pki.publicKeyFromPem(publicPem) as forge.pki.rsa.PublicKey, keyPem };
}

/** Signs the certificate with SHA-256 and RSA as forge's cert.sign would, but natively and asynchronously. */
async function signCertificate(cert: forge.pki.Certificate, key: KeyObject): Promise<string> {
  const algorithm = forge.pki.oids.sha256WithRSAEncryption!;
  cert.signatureOid = algorithm;
  cert.siginfo.algorithmOid = algorithm;
  // getTBSCertificate is public in forge but missing from its type definitions
  const tbs = (forge.pki as unknown as { getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  const signature = await signAsync('sha256', Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary'), key);
  // forge keeps both as binary strings; the cached TBS is what certificateToPem then writes
  (cert as forge.pki.Certificate & { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  cert.signature = signature.toString('binary');
  return forge.pki.certificateToPem(cert);
}

/**
 * A positive serial of 16 bytes in minimal DER, as RFC 5280 asks. Go's x509 (containerd, kubelet, crane, podman)
 * rejects a serial with a redundant leading zero byte ("malformed serial number"), and so does OpenSSL: a '00'
 * prefix, which forge trims only once, made one certificate in 256 unusable. The first byte is 0x40-0x7f: never
 * zero, never negative, 126 random bits.
 */
export function certificateSerial(random: Buffer = randomBytes(16)): string {
  const bytes = Buffer.from(random.subarray(0, 16));
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}

export async function createCertificateAuthority(commonName: string, now = new Date()): Promise<KeyPair> {
  const keys = await generateKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = certificateSerial();
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
  return { certPem: await signCertificate(cert, keys.privateKey), keyPem: keys.keyPem };
}

function isIpAddress(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}

export async function issueServingCertificate(
  ca: KeyPair, names: string[], now = new Date(), pregenerated?: CertificateKeys,
): Promise<KeyPair> {
  if (names.length === 0) throw new Error('a serving certificate needs at least one name');
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = createPrivateKey(ca.keyPem);
  const keys = pregenerated ?? await generateKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = certificateSerial();
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
  return { certPem: await signCertificate(cert, caKey), keyPem: keys.keyPem };
}

export interface CertificateFacts {
  notBefore: Date;
  notAfter: Date;
  names: string[];
}

export function inspectCertificate(certPem: string): CertificateFacts {
  const cert = new X509Certificate(certPem);
  return { notBefore: cert.validFromDate, notAfter: cert.validToDate, names: subjectAltNames(cert) };
}

/** DNS names and IP addresses of the subjectAltName extension, which Node prints as `DNS:a, IP Address:10.0.0.1`. */
function subjectAltNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '').split(', ').flatMap((entry) => {
    const match = /^(DNS|IP Address):(.+)$/.exec(entry);
    return match ? [canonicalName(match[2]!)] : [];
  });
}

/** IPv6 addresses in one spelling: Node prints `FD00:0:0:0:0:0:0:1` where the API server writes `fd00::1`. */
function canonicalName(name: string): string {
  return name.includes(':') ? new URL(`http://[${name}]`).hostname.slice(1, -1) : name;
}

/**
 * Whether TLS libraries can load the certificate: OpenSSL and Go refuse some that forge reads (a CA created before
 * serials were minimal DER may hold a padded one), and nothing signed by such a CA is ever trusted.
 */
export function isLoadable(certPem: string): boolean {
  try {
    new X509Certificate(certPem);
    return true;
  } catch {
    return false;
  }
}

/** Whether `certPem` was signed by the CA in `caPem`. */
export function isSignedBy(certPem: string, caPem: string): boolean {
  try {
    const ca = new X509Certificate(caPem);
    const cert = new X509Certificate(certPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
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
  if (wantedNames.length !== have.size || wantedNames.some((name) => !have.has(canonicalName(name)))) return 'NamesChanged';
  if (!isSignedBy(current.certPem, ca.certPem)) return 'IssuerChanged';
  return null;
}

/** When the next renewal check is due: at the renewal point of the current certificate. */
export function renewalDueAt(certPem: string): Date {
  const facts = inspectCertificate(certPem);
  const lifetime = facts.notAfter.getTime() - facts.notBefore.getTime();
  return new Date(facts.notAfter.getTime() - lifetime * RENEW_WHEN_REMAINING_FRACTION);
}
