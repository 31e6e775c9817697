// Before pointing a node at an address the agent asks it itself, as containerd would: an HTTPS request to
// /v2/ at the ClusterIP, verified against the CA it is about to write. A certificate that does not hold the
// ClusterIP yet (just reissued; the registry pod sees a renewed Secret within a minute or so) or an address
// that does not answer would make every pull on the node fail or wait; the agent retries instead.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export type ProbeResult = { ok: true } | { ok: false; reason: string; message: string };

const CERTIFICATE_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
]);

export function probeRegistry(server: string, caPem: string | undefined, timeoutMs = 3_000): Promise<ProbeResult> {
  const url = new URL('/v2/', server);
  const https = url.protocol === 'https:';
  return new Promise((resolve) => {
    const options = { method: 'GET', timeout: timeoutMs, ...(https && caPem ? { ca: caPem } : {}) };
    const request = (https ? httpsRequest : httpRequest)(url, options, (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      // 401 is the answer an authenticating registry gives; it proves TLS and routing work
      resolve(status > 0 && status < 500 ? { ok: true } : { ok: false, reason: 'RegistryUnhealthy', message: `${url.origin} answered ${status}` });
    });
    request.on('timeout', () => request.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    request.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? '';
      if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
        resolve({ ok: false, reason: 'CertificateNotValidForAddress', message: `the certificate served at ${url.host} does not hold that address` });
      } else if (CERTIFICATE_ERRORS.has(code)) {
        resolve({ ok: false, reason: 'CertificateNotTrusted', message: `the certificate served at ${url.host} is not trusted by the Registry's CA (${code})` });
      } else {
        resolve({ ok: false, reason: 'Unreachable', message: `${url.host} did not answer: ${code || error.message}` });
      }
    });
    request.end();
  });
}
