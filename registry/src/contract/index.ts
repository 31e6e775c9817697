// What crosses the boundary between the operator and the registry, in one module both import: the config file the
// operator writes and the registry reads, the ports and the command line in the image, the retention rules, the
// summaries maintenance Jobs leave for the operator, and the metric names the operator scrapes. The operator's
// builders and status readers take these from here. Two functions of the registry it runs itself rather than
// restating them: config.ts's parser, on each config it generates before applying it (controllers/config-check.ts),
// and mirror/names.ts's prefix of an upstream host (api/v1alpha1/mirrors.ts).
export * from './config-file.ts';
export * from './image.ts';
export * from './job-summary.ts';
/** a RetentionPolicy's spec.rules is the registry's own policy format, validated by the registry */
export type { KeepRules, RetentionRules } from '../retention/policy.ts';
export * from './metrics.ts';
