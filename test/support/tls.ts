// A throwaway CA and serving certificate for tests, made by the operator's own PKI functions
// (operator/src/certs/certificates.ts): the registry is tested with certificates like those it gets in a cluster.
import { createCertificateAuthority, issueServingCertificate } from '../../operator/src/certs/certificates.ts';

export interface TestCertificate { caPem: string; certPem: string; keyPem: string }

/** `names`: DNS names and IP addresses the certificate is valid for (at least one). */
export async function makeTestCertificate(names: string[]): Promise<TestCertificate> {
  const ca = await createCertificateAuthority('regop test CA');
  const serving = await issueServingCertificate(ca, names);
  return { caPem: ca.certPem, certPem: serving.certPem, keyPem: serving.keyPem };
}
