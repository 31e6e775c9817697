// The registry Deployment. A hash of what the registry reads only at start (its config file) is stamped on the
// pod template, so a change to it rolls the pods. Users, access rules and the certificate are left out: the
// kubelet updates their Secret volumes in place and the registry reloads them, so changing them fails no request.
import type { V1Deployment } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { MOUNTS } from './registry-config.ts';
import { claimName } from './storage-claim.ts';
import { API_PORT, childMetadata, childNames, commonLabels, OPS_PORT, selectorLabels, tlsEnabled } from './names.ts';

export const INPUTS_HASH_ANNOTATION = 'regop.dev/inputs-hash';
export const RUN_AS_USER = 10001;
/** the image's layout (Dockerfile and test/image/build.sh): the app under /app, node on the PATH */
export const REGISTRY_COMMAND = ['node', '/app/dist/registry/src/cli.js'];

export interface DeploymentInputs {
  image: string;
  imagePullPolicy?: string;
  /** hash of what the registry cannot reload (its config file): a change rolls the pods */
  inputsHash: string;
  /** the Secret holding tls.crt / tls.key */
  tlsSecretName?: string;
  /** the Secret holding the mirrors' upstream credentials and CAs, when one is needed */
  mirrorsSecretName?: string;
}

export function buildDeployment(registry: Registry, inputs: DeploymentInputs): V1Deployment {
  const names = childNames(registry.metadata.name);
  const sharedVolume = registry.spec.storage?.accessMode === 'ReadWriteMany';
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'ops', scheme: 'HTTP' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  const tls = tlsEnabled(registry) && inputs.tlsSecretName;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMetadata(registry, names.deployment),
    spec: {
      replicas: registry.spec.replicas ?? 1,
      selector: { matchLabels: selectorLabels(registry) },
      // a ReadWriteOnce volume cannot be attached to the old and the new pod at once (Multi-Attach errors)
      strategy: sharedVolume ? { type: 'RollingUpdate' } : { type: 'Recreate' },
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
          containers: [
            {
              name: 'registry',
              image: inputs.image,
              ...(registry.spec.imagePullPolicy ?? inputs.imagePullPolicy
                ? { imagePullPolicy: registry.spec.imagePullPolicy ?? inputs.imagePullPolicy }
                : {}),
              command: REGISTRY_COMMAND,
              args: ['serve', '--config', `${MOUNTS.config}/registry.yaml`],
              ports: [
                { name: 'api', containerPort: API_PORT, protocol: 'TCP' },
                { name: 'ops', containerPort: OPS_PORT, protocol: 'TCP' },
              ],
              readinessProbe: probe('/readyz', 5, 3),
              livenessProbe: probe('/healthz', 10, 6),
              ...(registry.spec.resources ? { resources: registry.spec.resources } : {}),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'data', mountPath: MOUNTS.data },
                { name: 'config', mountPath: MOUNTS.config, readOnly: true },
                { name: 'auth', mountPath: MOUNTS.auth, readOnly: true },
                ...(tls ? [{ name: 'tls', mountPath: MOUNTS.tls, readOnly: true }] : []),
                { name: 'admin', mountPath: MOUNTS.admin, readOnly: true },
                ...(inputs.mirrorsSecretName ? [{ name: 'mirrors', mountPath: MOUNTS.mirrors, readOnly: true }] : []),
                { name: 'tmp', mountPath: MOUNTS.tmp },
              ],
            },
          ],
          volumes: [
            { name: 'data', persistentVolumeClaim: { claimName: claimName(registry) } },
            { name: 'config', configMap: { name: names.config } },
            { name: 'auth', secret: { secretName: names.auth } },
            ...(tls ? [{ name: 'tls', secret: { secretName: inputs.tlsSecretName! } }] : []),
            { name: 'admin', secret: { secretName: names.admin } },
            ...(inputs.mirrorsSecretName ? [{ name: 'mirrors', secret: { secretName: inputs.mirrorsSecretName } }] : []),
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
}
