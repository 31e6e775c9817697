// The registry Deployment. A hash of what the registry reads only at start (its config file, and the credentials
// of its mirrors and bucket) is stamped on the pod template, so a change to it rolls the pods. Users, access rules
// and the certificate are left out: the kubelet updates their Secret volumes in place and the registry reloads
// them, so changing them fails no request. On shared storage (a bucket, a ReadWriteMany volume) pods are rolled
// one extra at a time and several replicas are spread over nodes and zones.
import type { V1Deployment, V1ResourceRequirements, V1TopologySpreadConstraint, V1Volume } from '@kubernetes/client-node';
import type { Registry, RegistryS3Storage, RegistrySpec } from '../api/v1alpha1/registry.ts';
import { webhookSecretFiles } from '../api/v1alpha1/notifications.ts';
import { backupVolume } from './backup-destination.ts';
import { s3CredentialKeys, severalReplicas, sharedStorage } from '../api/v1alpha1/storage.ts';
import { MOUNTS, S3_CREDENTIAL_FILES } from './registry-config.ts';
import { claimName } from './storage-claim.ts';
import { API_PORT, childMetadata, childNames, commonLabels, OPS_PORT, selectorLabels, tlsEnabled } from './names.ts';
import { REGISTRY_COMMAND } from '../../../registry/src/contract/index.ts';

export const INPUTS_HASH_ANNOTATION = 'regop.dev/inputs-hash';
export const RUN_AS_USER = 10001;
/** the image's layout (Dockerfile and test/image/build.sh), as the registry's contract has it */
export { REGISTRY_COMMAND };

/** what an autoscaled pod requests when spec.resources names no CPU: utilization is measured against it */
export const AUTOSCALED_CPU_REQUEST = '250m';
/**
 * A terminating pod keeps serving this long before the registry stops accepting: its endpoint leaves every node's
 * Service rules meanwhile, so no new connection is sent to a closed port.
 */
export const ENDPOINT_REMOVAL_SECONDS = 5;
/** nodes first, then zones (where nodes carry the label); ScheduleAnyway: a one-node or unzoned cluster still schedules */
export const SPREAD_TOPOLOGY_KEYS = ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'];

function spreadConstraints(registry: Registry): V1TopologySpreadConstraint[] {
  return SPREAD_TOPOLOGY_KEYS.map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: selectorLabels(registry) },
    // counted per revision: during a rolling update the new pods spread among themselves
    matchLabelKeys: ['pod-template-hash'],
  }));
}

/** the autoscaler measures CPU against the request, so an autoscaled pod always has one */
function containerResources(spec: RegistrySpec): V1ResourceRequirements | undefined {
  const resources = spec.resources;
  // without a CPU request the API server takes the CPU limit as the request
  if (!spec.autoscaling || resources?.requests?.cpu || resources?.limits?.cpu) return resources;
  return { ...resources, requests: { ...resources?.requests, cpu: AUTOSCALED_CPU_REQUEST } };
}

/** the user's Secret itself, its two keys as files: the operator makes no copy of the credentials */
function s3CredentialsVolume(s3: RegistryS3Storage): V1Volume {
  const keys = s3CredentialKeys(s3);
  return {
    name: 's3-credentials',
    secret: {
      secretName: s3.credentialsSecretRef.name,
      items: [
        { key: keys.accessKeyId, path: S3_CREDENTIAL_FILES.accessKeyId },
        { key: keys.secretAccessKey, path: S3_CREDENTIAL_FILES.secretAccessKey },
      ],
    },
  };
}

/** the webhooks' header Secrets' keys, projected into one volume; null when no webhook takes a header from a Secret */
function notificationsVolume(registry: Registry): V1Volume | null {
  const files = webhookSecretFiles(registry);
  if (files.length === 0) return null;
  return {
    name: 'notifications',
    projected: { sources: files.map((f) => ({ secret: { name: f.secret, items: [{ key: f.key, path: f.file }] } })) },
  };
}

export interface DeploymentInputs {
  image: string;
  imagePullPolicy?: string;
  /** hash of what the registry cannot reload (its config file, mirror and bucket credentials): a change rolls the pods */
  inputsHash: string;
  /** the Secret holding tls.crt / tls.key */
  tlsSecretName?: string;
  /** the Secret holding the mirrors' upstream credentials and CAs, when one is needed */
  mirrorsSecretName?: string;
}

export function buildDeployment(registry: Registry, inputs: DeploymentInputs): V1Deployment {
  const spec = registry.spec;
  const names = childNames(registry.metadata.name);
  const shared = sharedStorage(spec);
  const s3 = spec.storage?.s3;
  const notifications = notificationsVolume(registry);
  const backup = backupVolume(registry);
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'ops', scheme: 'HTTP' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  const tls = tlsEnabled(registry) && inputs.tlsSecretName;
  const resources = containerResources(spec);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMetadata(registry, names.deployment),
    spec: {
      // with an autoscaler the count is its own: applying one would undo each of its changes
      ...(spec.autoscaling ? {} : { replicas: spec.replicas ?? 1 }),
      selector: { matchLabels: selectorLabels(registry) },
      // a ReadWriteOnce volume cannot be attached to the old and the new pod at once (Multi-Attach errors); on
      // shared storage a serving pod goes only once its replacement is ready
      strategy: shared ? { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } : { type: 'Recreate' },
      template: {
        metadata: {
          labels: commonLabels(registry),
          annotations: { [INPUTS_HASH_ANNOTATION]: inputs.inputsHash },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: RUN_AS_USER,
            runAsGroup: RUN_AS_USER,
            fsGroup: RUN_AS_USER,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          terminationGracePeriodSeconds: 40,
          ...(severalReplicas(spec) ? { topologySpreadConstraints: spreadConstraints(registry) } : {}),
          containers: [
            {
              name: 'registry',
              image: inputs.image,
              ...(spec.imagePullPolicy ?? inputs.imagePullPolicy
                ? { imagePullPolicy: spec.imagePullPolicy ?? inputs.imagePullPolicy }
                : {}),
              command: REGISTRY_COMMAND,
              args: ['serve', '--config', `${MOUNTS.config}/registry.yaml`],
              ports: [
                { name: 'api', containerPort: API_PORT, protocol: 'TCP' },
                { name: 'ops', containerPort: OPS_PORT, protocol: 'TCP' },
              ],
              // liveness waits for the start, however long a busy node makes it (50 Registries applied at once on
              // two cores took minutes, and a minute's liveness budget restarted them over and over); both probed
              // each second so that a pod is ready a moment after it listens (the kubelet asks for readiness only
              // once the startup probe passed, on readiness's own period: at 2 s, half a second more on average).
              // /readyz answers from the storage probe's last result, so a probe each second costs the pod nothing.
              startupProbe: probe('/healthz', 1, 600),
              readinessProbe: probe('/readyz', 1, 3),
              livenessProbe: probe('/healthz', 10, 6),
              // only where pods are rolled one by one: with Recreate it would lengthen the gap between old and new
              ...(shared ? { lifecycle: { preStop: { sleep: { seconds: ENDPOINT_REMOVAL_SECONDS } } } } : {}),
              ...(resources ? { resources } : {}),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                ...(s3 ? [] : [{ name: 'data', mountPath: MOUNTS.data }]),
                { name: 'config', mountPath: MOUNTS.config, readOnly: true },
                { name: 'auth', mountPath: MOUNTS.auth, readOnly: true },
                ...(tls ? [{ name: 'tls', mountPath: MOUNTS.tls, readOnly: true }] : []),
                { name: 'admin', mountPath: MOUNTS.admin, readOnly: true },
                ...(inputs.mirrorsSecretName ? [{ name: 'mirrors', mountPath: MOUNTS.mirrors, readOnly: true }] : []),
                ...(notifications ? [{ name: notifications.name, mountPath: MOUNTS.notifications, readOnly: true }] : []),
                ...(s3 ? [{ name: 's3-credentials', mountPath: MOUNTS.s3, readOnly: true }] : []),
                ...(backup ? [{ name: backup.volume.name, mountPath: backup.mountPath }] : []),
                { name: 'tmp', mountPath: MOUNTS.tmp },
              ],
            },
          ],
          volumes: [
            ...(s3 ? [] : [{ name: 'data', persistentVolumeClaim: { claimName: claimName(registry) } }]),
            { name: 'config', configMap: { name: names.config } },
            { name: 'auth', secret: { secretName: names.auth } },
            ...(tls ? [{ name: 'tls', secret: { secretName: inputs.tlsSecretName! } }] : []),
            { name: 'admin', secret: { secretName: names.admin } },
            ...(inputs.mirrorsSecretName ? [{ name: 'mirrors', secret: { secretName: inputs.mirrorsSecretName } }] : []),
            ...(notifications ? [notifications] : []),
            ...(s3 ? [s3CredentialsVolume(s3)] : []),
            ...(backup ? [backup.volume] : []),
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
}
