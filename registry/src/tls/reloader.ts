// Serving certificates change under a running server (cert-manager renewals, Secret updates). Kubernetes swaps
// a symlink to update a mounted Secret, which inotify misses, so the files are polled and compared by content.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';

export interface TlsFiles {
  cert: string;
  key: string;
}

export function readTlsFiles(files: TlsFiles): SecureContextOptions & { fingerprint: string } {
  const cert = readFileSync(files.cert);
  const key = readFileSync(files.key);
  // validates the pair now, so a bad pair is reported instead of failing every handshake later
  createSecureContext({ cert, key });
  const fingerprint = createHash('sha256').update(cert).update(key).digest('hex');
  return { cert, key, fingerprint };
}

export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export function watchTlsFiles(
  files: TlsFiles, target: SecureContextTarget, intervalMs: number, initialFingerprint: string, logger: Logger,
): () => void {
  let fingerprint = initialFingerprint;
  const timer = setInterval(() => {
    try {
      const next = readTlsFiles(files);
      if (next.fingerprint === fingerprint) return;
      target.setSecureContext({ cert: next.cert, key: next.key });
      fingerprint = next.fingerprint;
      logger.info({ cert: files.cert }, 'reloaded TLS certificate');
    } catch (error) {
      // mid-update the cert and key may not match yet; keep serving the previous pair
      logger.warn({ cert: files.cert, reason: (error as Error).message }, 'TLS files not reloaded');
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
