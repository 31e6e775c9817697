// A RetentionPolicy's children: its rules as a ConfigMap, and the CronJob that runs
// `regop-registry retention` against the Registry's maintenance API (the registry does the work in-process,
// where it can coordinate GC with uploads in flight; the Job only asks and reports).
import type { V1ConfigMap, V1CronJob, V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION } from '../api/v1alpha1/registry.ts';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { RETENTION_POLICY_KIND, type RetentionPolicy } from '../api/v1alpha1/retention-policy.ts';
import { buildMaintenanceCronJob } from './maintenance-job.ts';
import { MANAGED_BY_LABELS, tlsEnabled } from './names.ts';

export const RETENTION_POLICY_LABEL = 'regop.dev/retention-policy';
export const RETENTION_CONTAINER = 'retention';

export function retentionNames(policyName: string) {
  return { cronJob: `${policyName}-retention`, rules: `${policyName}-retention-rules` };
}

function policyOwner(policy: RetentionPolicy): V1OwnerReference {
  return { apiVersion: API_VERSION, kind: RETENTION_POLICY_KIND, name: policy.metadata.name, uid: policy.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

function labels(policy: RetentionPolicy): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'regop-retention',
    'app.kubernetes.io/instance': policy.metadata.name,
    ...MANAGED_BY_LABELS,
    [RETENTION_POLICY_LABEL]: policy.metadata.name,
  };
}

export function buildRulesConfigMap(policy: RetentionPolicy): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: retentionNames(policy.metadata.name).rules, namespace: policy.metadata.namespace, labels: labels(policy), ownerReferences: [policyOwner(policy)] },
    data: { 'rules.json': JSON.stringify(policy.spec.rules, null, 2) },
  };
}

export interface CronJobInputs {
  image: string;
  imagePullPolicy?: string;
  /** the Secret with the registry's CA (ca.crt), when it serves TLS */
  caSecretName?: string;
}

export function buildRetentionCronJob(policy: RetentionPolicy, registry: Registry, inputs: CronJobInputs): V1CronJob {
  const names = retentionNames(policy.metadata.name);
  const spec = policy.spec;
  const gc = spec.gc ?? {};
  const caSecretName = tlsEnabled(registry) ? inputs.caSecretName : undefined;
  return buildMaintenanceCronJob(registry, {
    metadata: { name: names.cronJob, namespace: policy.metadata.namespace, labels: labels(policy), ownerReferences: [policyOwner(policy)] },
    labels: labels(policy),
    schedule: spec.schedule,
    ...(spec.timeZone ? { timeZone: spec.timeZone } : {}),
    suspend: spec.suspend ?? false,
    ...(spec.successfulJobsHistoryLimit !== undefined ? { successfulJobsHistoryLimit: spec.successfulJobsHistoryLimit } : {}),
    ...(spec.failedJobsHistoryLimit !== undefined ? { failedJobsHistoryLimit: spec.failedJobsHistoryLimit } : {}),
    activeDeadlineSeconds: 3600,
    container: RETENTION_CONTAINER,
    image: inputs.image,
    ...(inputs.imagePullPolicy ? { imagePullPolicy: inputs.imagePullPolicy } : {}),
    args: [
      'retention',
      '--policy', '/etc/regop/rules/rules.json',
      ...(spec.dryRun ? ['--dry-run'] : []),
      ...((gc.enabled ?? true) ? ['--gc', '--grace-period', gc.gracePeriod ?? '1h'] : []),
    ],
    ...(caSecretName ? { caSecretName } : {}),
    volumeMounts: [{ name: 'rules', mountPath: '/etc/regop/rules', readOnly: true }],
    volumes: [{ name: 'rules', configMap: { name: names.rules } }],
  });
}
