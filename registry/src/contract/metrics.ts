// The names of the registry's metrics that the operator scrapes from each registry pod's ops port
// (operator/src/status/registry-metrics.ts). The registry registers them under these names (ops/metrics.ts).

/**
 * 1 while the htpasswd or access file on disk failed to load and the previous users or rules are served (a revoked
 * user may still get in), 0 otherwise; label `file` is `htpasswd` or `access`. The operator alerts on it.
 */
export const AUTH_RELOAD_FAILED_METRIC = 'regop_registry_auth_reload_failed';
/** the store's size in bytes; the operator shows it as status.storageUsed */
export const STORAGE_BYTES_METRIC = 'regop_registry_storage_bytes';
/** a mirror's cached bytes, label `mirror`; the operator shows it in the Registry's status */
export const MIRROR_CACHED_BYTES_METRIC = 'regop_registry_mirror_cached_bytes';
/** manifests and blobs a mirror served from its cache / had to fetch, label `mirror`; the operator's hit ratio */
export const MIRROR_HITS_METRIC = 'regop_registry_mirror_hits_total';
export const MIRROR_MISSES_METRIC = 'regop_registry_mirror_misses_total';
