// What crosses the boundary between the operator and the registry, in one module both import: the config file the
// operator writes and the registry reads, the ports and the command line in the image, the retention rules, the
// summaries maintenance Jobs leave for the operator, and the metric names the operator scrapes. The operator's
// builders and status readers take these from here; the one other thing it runs of the registry is config.ts's
// parser, on each config it generates before applying it (operator/src/controllers/config-check.ts).
export * from './config-file.ts';
export * from './image.ts';
export * from './job-summary.ts';
/** a RetentionPolicy's spec.rules is the registry's own policy format, validated by the registry */
export type { KeepRules, RetentionRules } from '../retention/policy.ts';
/** defined beside their registration, read by the operator (operator/src/status/registry-metrics.ts) */
export {
  AUTH_RELOAD_FAILED_METRIC, MIRROR_CACHED_BYTES_METRIC, MIRROR_HITS_METRIC, MIRROR_MISSES_METRIC, STORAGE_BYTES_METRIC,
} from '../ops/metrics.ts';
