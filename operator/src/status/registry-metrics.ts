// What the operator reads from a registry's Prometheus metrics (its plain-HTTP ops port): the store's size, and
// the auth files a pod failed to reload. Such a pod keeps serving the previous users and rules, which can silently
// keep a revoked user or an old password working, so the operator reports it as Degraded.
import type { V1Pod } from '@kubernetes/client-node';
import { AUTH_RELOAD_FAILED_METRIC, STORAGE_BYTES_METRIC } from '../../../registry/src/ops/metrics.ts';

const STORED_BYTES = new RegExp(`^${STORAGE_BYTES_METRIC} (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)$`, 'm');

/** the store's size in bytes, or null when the metrics do not say */
export function storedBytes(metricsText: string): number | null {
  const match = STORED_BYTES.exec(metricsText);
  return match ? Number(match[1]) : null;
}

const SAMPLE = new RegExp(`^${AUTH_RELOAD_FAILED_METRIC}\\{([^}]*)\\}\\s+(\\S+)`, 'gm');

/** The `file` labels of the auth-reload gauge whose value is not 0, sorted. */
export function failedAuthFiles(metricsText: string): string[] {
  const files = new Set<string>();
  for (const [, labels, value] of metricsText.matchAll(SAMPLE)) {
    const file = /(?:^|,)\s*file="([^"]*)"/.exec(labels!)?.[1];
    if (file && Number(value) !== 0) files.add(file);
  }
  return [...files].sort();
}

export interface AuthReloadFailure {
  pod: string;
  files: string[];
}

/** One sentence for the Degraded condition and its Event; names pods and files, never their content. */
export function describeAuthReloadFailures(failures: AuthReloadFailure[]): string {
  const which = failures.map((f) => `pod ${f.pod} (${f.files.join(', ')})`).join('; ');
  return `auth files failed to load in ${which}: the registry keeps serving the previous users and access rules, `
    + 'so a removed user or a replaced password may still work; see the pod log for the parse error';
}

/** pods worth asking: running, with an address, not on their way out */
export function scrapablePods(pods: V1Pod[]): Array<{ name: string; ip: string }> {
  return pods
    .filter((pod) => pod.status?.phase === 'Running' && pod.status.podIP && !pod.metadata?.deletionTimestamp)
    .map((pod) => ({ name: pod.metadata!.name!, ip: pod.status!.podIP! }));
}
