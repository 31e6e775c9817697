// The CronJob of a maintenance task that runs inside the registry (retention, backup): its Job only calls the
// registry's maintenance API with the admin token, trusting the registry's CA, and writes the JSON summary it gets
// back as its termination message for the operator to report. Locked down: no service account token, read-only
// root, no capabilities, the image's unprivileged user.
import type { V1CronJob, V1ObjectMeta, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { REGISTRY_COMMAND, RUN_AS_USER } from './deployment.ts';
import { childNames, registryUrl } from './names.ts';

const ADMIN_TOKEN_DIR = '/etc/regop/admin';
const CA_DIR = '/etc/regop/ca';

export interface MaintenanceCronJob {
  metadata: V1ObjectMeta;
  /** on the Jobs and their pods too */
  labels: Record<string, string>;
  schedule: string;
  timeZone?: string;
  suspend?: boolean;
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
  /** a run may take at most this long */
  activeDeadlineSeconds: number;
  container: string;
  image: string;
  imagePullPolicy?: string;
  /** the `regop-registry` subcommand and its own options; the server, token, CA and termination log are added */
  args: string[];
  /** the Secret with the registry's CA (ca.crt), when it serves TLS */
  caSecretName?: string;
  volumeMounts?: V1VolumeMount[];
  volumes?: V1Volume[];
}

/** The Service's cluster address with its port: the Job runs in the Registry's namespace. */
export function inClusterApiUrl(registry: Registry): string {
  const scheme = registryUrl(registry).startsWith('https') ? 'https' : 'http';
  return `${scheme}://${registry.metadata.name}.${registry.metadata.namespace}.svc:${registry.spec.service?.port ?? 443}`;
}

export function buildMaintenanceCronJob(registry: Registry, job: MaintenanceCronJob): V1CronJob {
  const tls = job.caSecretName !== undefined;
  const args = [
    ...job.args,
    '--server', inClusterApiUrl(registry),
    '--token-file', `${ADMIN_TOKEN_DIR}/token`,
    '--termination-log', '/dev/termination-log',
    ...(tls ? ['--ca-file', `${CA_DIR}/ca.crt`] : []),
  ];
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: job.metadata,
    spec: {
      schedule: job.schedule,
      ...(job.timeZone ? { timeZone: job.timeZone } : {}),
      suspend: job.suspend ?? false,
      // two runs at once would only race each other (the registry refuses the second anyway)
      concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: job.successfulJobsHistoryLimit ?? 3,
      failedJobsHistoryLimit: job.failedJobsHistoryLimit ?? 3,
      startingDeadlineSeconds: 300,
      jobTemplate: {
        metadata: { labels: job.labels },
        spec: {
          backoffLimit: 1,
          activeDeadlineSeconds: job.activeDeadlineSeconds,
          template: {
            metadata: { labels: job.labels },
            spec: {
              restartPolicy: 'Never',
              automountServiceAccountToken: false,
              enableServiceLinks: false,
              securityContext: { runAsNonRoot: true, runAsUser: RUN_AS_USER, runAsGroup: RUN_AS_USER, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [{
                name: job.container,
                image: job.image,
                ...(job.imagePullPolicy ? { imagePullPolicy: job.imagePullPolicy } : {}),
                command: REGISTRY_COMMAND,
                args,
                terminationMessagePolicy: 'File',
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                volumeMounts: [
                  { name: 'admin', mountPath: ADMIN_TOKEN_DIR, readOnly: true },
                  ...(job.volumeMounts ?? []),
                  ...(tls ? [{ name: 'ca', mountPath: CA_DIR, readOnly: true }] : []),
                ],
              }],
              volumes: [
                { name: 'admin', secret: { secretName: childNames(registry.metadata.name).admin } },
                ...(job.volumes ?? []),
                ...(tls ? [{ name: 'ca', secret: { secretName: job.caSecretName!, items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] : []),
              ],
            },
          },
        },
      },
    },
  };
}
