// What the operator reads from a registry pod's Prometheus metrics (its plain-HTTP ops port): the store's size,
// what each mirror holds and how often it is hit, and the auth files the pod failed to reload. Such a pod keeps
// serving the previous users and rules, which can silently keep a revoked user or an old password working, so the
// operator reports it as Degraded.
import type { V1Pod } from '@kubernetes/client-node';
import {
  AUTH_RELOAD_FAILED_METRIC, MIRROR_CACHED_BYTES_METRIC, MIRROR_HITS_METRIC, MIRROR_MISSES_METRIC, STORAGE_BYTES_METRIC,
} from '../../../registry/src/contract/index.ts';

const STORED_BYTES = new RegExp(`^${STORAGE_BYTES_METRIC} (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)$`, 'm');

/** the store's size in bytes, or null when the metrics do not say */
export function storedBytes(metricsText: string): number | null {
  const match = STORED_BYTES.exec(metricsText);
  return match ? Number(match[1]) : null;
}

/** `[label value, sample value]` of each sample of `metric` that has `label` */
function labelledSamples(metricsText: string, metric: string, label: string): Array<[string, number]> {
  const samples: Array<[string, number]> = [];
  for (const [, labels, value] of metricsText.matchAll(new RegExp(`^${metric}\\{([^}]*)\\}\\s+(\\S+)`, 'gm'))) {
    const labelValue = new RegExp(`(?:^|,)\\s*${label}="([^"]*)"`).exec(labels!)?.[1];
    if (labelValue !== undefined) samples.push([labelValue, Number(value)]);
  }
  return samples;
}

/** The `file` labels of the auth-reload gauge whose value is not 0, sorted. */
export function failedAuthFiles(metricsText: string): string[] {
  const files = new Set<string>();
  for (const [file, value] of labelledSamples(metricsText, AUTH_RELOAD_FAILED_METRIC, 'file')) if (file && value !== 0) files.add(file);
  return [...files].sort();
}

/** `metric{mirror="…"} value` samples, summed per mirror */
function samplesByMirror(metricsText: string, metric: string): Map<string, number> {
  const byMirror = new Map<string, number>();
  for (const [mirror, value] of labelledSamples(metricsText, metric, 'mirror')) {
    if (Number.isFinite(value)) byMirror.set(mirror, (byMirror.get(mirror) ?? 0) + value);
  }
  return byMirror;
}

export interface MirrorFigures {
  hits: number;
  misses: number;
  /** null when no pod said */
  cachedBytes: number | null;
}

/**
 * Per mirror (by its prefix), from every registry pod's metrics: hits and misses summed (each pod counts what it
 * served), cached bytes the largest any pod reports (they share the store; one may not have measured it yet).
 */
export function mirrorFigures(podMetricsTexts: string[]): Map<string, MirrorFigures> {
  const figures = new Map<string, MirrorFigures>();
  const entry = (mirror: string) => {
    if (!figures.has(mirror)) figures.set(mirror, { hits: 0, misses: 0, cachedBytes: null });
    return figures.get(mirror)!;
  };
  for (const text of podMetricsTexts) {
    for (const [mirror, hits] of samplesByMirror(text, MIRROR_HITS_METRIC)) entry(mirror).hits += hits;
    for (const [mirror, misses] of samplesByMirror(text, MIRROR_MISSES_METRIC)) entry(mirror).misses += misses;
    for (const [mirror, bytes] of samplesByMirror(text, MIRROR_CACHED_BYTES_METRIC)) {
      const current = entry(mirror);
      current.cachedBytes = Math.max(current.cachedBytes ?? 0, bytes);
    }
  }
  return figures;
}

/** hits of all requests, to two decimals; undefined before the first request */
export function hitRatio(figures: Pick<MirrorFigures, 'hits' | 'misses'>): string | undefined {
  const total = figures.hits + figures.misses;
  return total > 0 ? (figures.hits / total).toFixed(2) : undefined;
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

/** pods worth scraping: those that answer (pod-readiness.ts) */
export { podsThatAnswer as scrapablePods } from './pod-readiness.ts';
