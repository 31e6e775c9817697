// Reconciles a Registry into its children: credentials and TLS Secrets, config, claim, Deployment, its
// PodDisruptionBudget and HorizontalPodAutoscaler, Service, Ingress and pull Secrets in other namespaces; then
// reports Ready / Progressing / Degraded. Level-triggered and idempotent: every pass computes the whole desired
// state and applies it with server-side apply.
import { createHash } from 'node:crypto';
import type { KubernetesObject, V1Deployment, V1Node, V1Pod, V1Secret } from '@kubernetes/client-node';
import { API_VERSION, REGISTRY_KIND, type Registry, type RegistryStatus } from '../api/v1alpha1/registry.ts';
import type { ControllerDependencies } from './dependencies.ts';
import { OPERATOR_MADE } from '../kube/cluster-client.ts';
import { Reconciler, type ReconcileResult } from './reconciler.ts';
import { buildAuthSecret, hashesFor, nodePullerWanted, parseHtpasswd } from '../resources/auth-secret.ts';
import { buildAutoscaler } from '../resources/autoscaler.ts';
import { buildDeployment, INPUTS_HASH_ANNOTATION } from '../resources/deployment.ts';
import { buildDisruptionBudget } from '../resources/disruption-budget.ts';
import { buildIngress } from '../resources/ingress.ts';
import { buildNetworkPolicy, networkPolicyEnabled } from '../resources/network-policy.ts';
import { childNames, FIELD_MANAGER, MANAGED_SELECTOR, PULLER_USER, pullSecretHosts, registryUrl, selectorLabels, uiUrl, SOURCE_LABEL, sourceLabel } from '../resources/names.ts';
import { buildCaBundle, buildPullSecret } from '../resources/pull-secret.ts';
import { buildConfigMap } from '../resources/registry-config.ts';
import { buildNodeCaConfigMap } from '../resources/node-ca.ts';
import { buildNodePullerCopy, nodePullerCopyName } from '../resources/mirror-secret.ts';
import { mirrorPrefix } from '../api/v1alpha1/mirrors.ts';
import { buildService } from '../resources/service.ts';
import { buildClaim } from '../resources/storage-claim.ts';
import { findCondition, type ConditionUpdate } from '../status/conditions.ts';
import {
  describeAuthReloadFailures, failedAuthFiles, hitRatio, mirrorFigures, scrapablePods, storedBytes,
} from '../status/registry-metrics.ts';
import { describeUnreadyPods, readinessCauses, unreadyPods, type UnreadyPod } from '../status/pod-readiness.ts';
import { InputError, resolveInputs, WaitingForInput, type RegistryInputs } from './registry-inputs.ts';
import { resolveMirrorInputs, type MirrorInputs } from './mirror-inputs.ts';
import { resolveStorageInputs, type StorageInputs } from './storage-inputs.ts';
import { checkNotificationInputs } from './notification-inputs.ts';
import { checkBackupInputs } from './backup-inputs.ts';
import { announceBackup, lastBackup } from './backup-status.ts';
import { backupNames, buildBackupCronJob, buildBackupDestinationConfigMap } from '../resources/backup.ts';
import { checkRegistryConfig } from './config-check.ts';
import { NODE_ACCESS_CONDITION, nodeAccessStatus } from './node-access.ts';
import { admittedAddresses } from './node-addresses.ts';

export const PULL_SECRET_FINALIZER = 'regop.dev/pull-secrets';
/** level-triggered resync: picks up edits to referenced password Secrets, which are not watched */
export const RESYNC_MS = 60_000;
/** while waiting for an input that is not watched (a Secret cert-manager is still issuing, say) */
const PROGRESS_POLL_MS = 5_000;
/**
 * While pods roll out, the Deployment informer wakes the Registry at each change of its status: this poll only
 * catches a pod that stays unready without the Deployment changing. At 5 s, 50 Registries rolling out at once
 * re-applied all their children ten times a second, on the API server that was starting their pods.
 */
export const ROLLOUT_POLL_MS = 30_000;
const DEGRADED_RETRY_MS = 30_000;
/** on a registry pod (not its template): the hash of the Secrets it mounts, changed to make the kubelet refresh them */
export const MOUNTED_SECRETS_ANNOTATION = 'regop.dev/mounted-secrets-hash';
/** Degraded reason while a registry pod serves stale users or rules because an auth file failed to load */
export const AUTH_RELOAD_FAILED = 'AuthReloadFailed';
/** Degraded reason while registry pods run but fail their readiness probe and say why (a bucket they cannot reach) */
export const REGISTRY_NOT_READY = 'RegistryNotReady';
/** keeps spec.replicas of a Deployment while it passes from the operator to the autoscaler (handOverReplicas) */
export const REPLICAS_HANDOVER_MANAGER = 'regop-operator-replicas-handover';

const SECRET = { apiVersion: 'v1', kind: 'Secret' };
const CONFIG_MAP = { apiVersion: 'v1', kind: 'ConfigMap' };
const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment' };
const DISRUPTION_BUDGET = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' };
const AUTOSCALER = { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler' };
const NETWORK_POLICY = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' };

function errorMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  const parsed = typeof body === 'string' ? safeJson(body) : body;
  const message = (parsed as { message?: string } | undefined)?.message ?? (error as Error).message ?? String(error);
  return message.length > 500 ? `${message.slice(0, 500)}…` : message;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Kubernetes quantity style, to one decimal: 0, 512Ki, 1.5Gi */
export function formatBytes(bytes: number): string {
  const units = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const rounded = unit === 0 ? String(value) : value.toFixed(1).replace(/\.0$/, '');
  return `${rounded}${units[unit]}`;
}

/** whether the auth Secret about to be applied differs from the stored one (whose data is base64) */
function authChanged(stored: V1Secret, wanted: V1Secret): boolean {
  const storedData = stored.data ?? {};
  const wantedData = wanted.stringData ?? {};
  const keys = new Set([...Object.keys(storedData), ...Object.keys(wantedData)]);
  return [...keys].some((key) => Buffer.from(storedData[key] ?? '', 'base64').toString() !== (wantedData[key] ?? ''));
}

/** whether the operator's last apply set spec.replicas (server-side apply removes the field when it stops) */
function appliedReplicas(deployment: V1Deployment): boolean {
  return (deployment.metadata?.managedFields ?? []).some((entry) => entry.manager === FIELD_MANAGER && entry.operation === 'Apply'
    && (entry.fieldsV1 as { 'f:spec'?: { 'f:replicas'?: unknown } } | undefined)?.['f:spec']?.['f:replicas'] !== undefined);
}

/** the replica count the Deployment should reach: the autoscaler's current pick when there is one */
function desiredReplicas(registry: Registry, deployment: V1Deployment): number {
  const autoscaling = registry.spec.autoscaling;
  if (!autoscaling) return registry.spec.replicas ?? 1;
  return deployment.spec?.replicas ?? autoscaling.minReplicas ?? 1;
}

/** 4xx answers other than conflicts and throttling mean the desired object is invalid: retrying will not help. */
function isPermanentApiError(error: unknown): boolean {
  const code = (error as { code?: number }).code;
  return code !== undefined && code >= 400 && code < 500 && code !== 409 && code !== 429;
}

export class RegistryController extends Reconciler<Registry, RegistryStatus> {
  constructor(dependencies: ControllerDependencies) {
    super(dependencies, { apiVersion: API_VERSION, kind: REGISTRY_KIND });
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const registry = await this.client.get<Registry & KubernetesObject>(this.objectKey(namespace, name));
    if (!registry) return;
    // copies in other namespaces, which owner references cannot reach, go before the Registry does
    const wantsCopies = (registry.spec.pullSecret?.namespaces ?? []).length > 0 || this.nodePullerCopyWanted(registry);
    await this.keepFinalizer(registry, PULL_SECRET_FINALIZER, wantsCopies, () => this.deleteCopies(registry, () => true));
    if (registry.metadata.deletionTimestamp) return;

    let inputs: RegistryInputs;
    let mirrors: MirrorInputs;
    let storage: StorageInputs;
    try {
      storage = await resolveStorageInputs(this.client, registry);
      inputs = await resolveInputs(this.client, registry, this.events, this.now());
      mirrors = await resolveMirrorInputs(this.client, registry, inputs, this.events);
      await checkNotificationInputs(this.client, registry);
      await checkBackupInputs(this.client, registry, this.now());
      checkRegistryConfig(registry);
    } catch (error) {
      if (error instanceof InputError) return this.reportDegraded(registry, error.reason, error.message);
      if (error instanceof WaitingForInput) {
        await this.writeStatus(registry, {}, [{ type: 'Progressing', status: 'True', reason: error.reason, message: error.message }]);
        return { requeueAfterMs: PROGRESS_POLL_MS };
      }
      throw error;
    }

    let applied: { deployment: V1Deployment; pods: V1Pod[] };
    try {
      applied = await this.applyChildren(registry, inputs, mirrors, storage);
      await this.reconcileCopies(registry, inputs, mirrors);
    } catch (error) {
      if (isPermanentApiError(error)) return this.reportDegraded(registry, 'ApplyFailed', errorMessage(error));
      throw error;
    }
    return this.reportProgress(registry, inputs, applied.deployment, applied.pods);
  }

  /**
   * Applies every child in three rounds, each round's requests at once (an apply is a round trip to an API server
   * that is busy starting pods; one after another they made most of a reconcile's time): what the pods mount and
   * claim, then the Deployment, then what stands beside it. Returns the Deployment as applied and the registry pods
   * (one list per reconcile: Pods stay live reads).
   */
  private async applyChildren(
    registry: Registry, inputs: RegistryInputs, mirrors: MirrorInputs, storage: StorageInputs,
  ): Promise<{ deployment: V1Deployment; pods: V1Pod[] }> {
    const names = childNames(registry.metadata.name);
    const namespace = registry.metadata.namespace;
    const configMap = buildConfigMap(registry);
    const existingAuth = await this.client.get<V1Secret>({ ...SECRET, namespace, name: names.auth }, OPERATOR_MADE);
    const current = parseHtpasswd(existingAuth?.data?.htpasswd ? Buffer.from(existingAuth.data.htpasswd, 'base64').toString() : undefined);
    const authSecret = buildAuthSecret(registry, await hashesFor(inputs.users, current));
    const claim = buildClaim(registry);
    await Promise.all([
      ...inputs.secrets.map((secret) => this.client.apply(secret)),
      // the CAs for the node agent (the Registry's, and upstreams' for the nodes' direct fallback), in a ConfigMap
      inputs.tls || Object.keys(mirrors.upstreamCas).length > 0
        ? this.client.apply(buildNodeCaConfigMap(registry, inputs.tls?.caPem, mirrors.upstreamCas)) : null,
      mirrors.secret ? this.client.apply(mirrors.secret) : this.client.delete({ ...SECRET, namespace, name: names.mirrors }),
      this.client.apply(configMap),
      this.client.apply(authSecret),
      claim ? this.client.apply(claim) : null,
    ]);

    // only what needs a restart: the config, the mirrors' upstream credentials and CAs and the bucket's
    // credentials, which the registry reads at start; users and certificates reach running pods through their
    // Secret volumes
    const inputsHash = createHash('sha256')
      .update(configMap.data!['registry.yaml']!)
      .update(mirrors.secret ? JSON.stringify(Object.entries(mirrors.secret.stringData!).sort()) : '')
      .update(storage.s3Credentials ? JSON.stringify(storage.s3Credentials) : '')
      .digest('hex')
      .slice(0, 16);
    const previous = await this.client.get<V1Deployment>({ ...DEPLOYMENT, namespace, name: names.deployment }, OPERATOR_MADE);
    if (previous && registry.spec.autoscaling) await this.handOverReplicas(previous);
    const deployment = await this.client.apply(buildDeployment(registry, {
      image: registry.spec.image ?? this.defaultImage,
      ...(this.defaultImagePullPolicy ? { imagePullPolicy: this.defaultImagePullPolicy } : {}),
      inputsHash,
      ...(inputs.tls ? { tlsSecretName: inputs.tls.servingSecretName } : {}),
      ...(mirrors.secret ? { mirrorsSecretName: names.mirrors } : {}),
    }));
    const previousHash = previous?.spec?.template?.metadata?.annotations?.[INPUTS_HASH_ANNOTATION];
    if (previous && previousHash !== inputsHash) {
      this.events.normal(registry, 'RollingOut', 'the registry configuration changed: rolling out the registry');
    }
    if (previous && existingAuth && authChanged(existingAuth, authSecret)) {
      this.events.normal(registry, 'CredentialsUpdated', 'users or access rules changed: the running registry reloads them without a restart');
    }
    const mountedHash = createHash('sha256')
      .update(authSecret.stringData!.htpasswd!)
      .update(authSecret.stringData!['access.yaml']!)
      .update(inputs.tls?.certPem ?? '')
      .digest('hex')
      .slice(0, 16);
    const budget = buildDisruptionBudget(registry);
    const autoscaler = buildAutoscaler(registry);
    const ingress = buildIngress(registry, inputs.tls?.servingSecretName);
    const [pods] = await Promise.all([
      this.registryPods(registry).then(async (pods) => {
        await this.nudgePods(registry, pods, mountedHash);
        return pods;
      }),
      budget ? this.client.apply(budget) : this.client.delete({ ...DISRUPTION_BUDGET, namespace, name: names.disruptionBudget }),
      autoscaler ? this.client.apply(autoscaler) : this.client.delete({ ...AUTOSCALER, namespace, name: names.autoscaler }),
      this.client.apply(buildService(registry)),
      ingress ? this.client.apply(ingress) : this.client.delete({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace, name: names.ingress }),
      this.applyNetworkPolicy(registry),
      this.applyBackupSchedule(registry, inputs),
    ]);
    return { deployment, pods };
  }

  private async applyNetworkPolicy(registry: Registry): Promise<void> {
    const networkPolicy = networkPolicyEnabled(registry)
      ? buildNetworkPolicy(registry, { operatorNamespace: this.operatorNamespace, nodeAddresses: await this.nodeAddresses() })
      : null;
    if (networkPolicy) await this.client.apply(networkPolicy);
    else await this.client.delete({ ...NETWORK_POLICY, namespace: registry.metadata.namespace, name: childNames(registry.metadata.name).networkPolicy });
  }

  private async applyBackupSchedule(registry: Registry, inputs: RegistryInputs): Promise<void> {
    const names = backupNames(registry.metadata.name);
    const namespace = registry.metadata.namespace;
    const destination = buildBackupDestinationConfigMap(registry);
    const cronJob = buildBackupCronJob(registry, {
      image: registry.spec.image ?? this.defaultImage,
      ...(this.defaultImagePullPolicy ? { imagePullPolicy: this.defaultImagePullPolicy } : {}),
      ...(inputs.tls?.caSecretName ? { caSecretName: inputs.tls.caSecretName } : {}),
    });
    if (destination && cronJob) {
      await this.client.apply(destination);
      await this.client.apply(cronJob);
    } else {
      await this.client.delete({ apiVersion: 'batch/v1', kind: 'CronJob', namespace, name: names.cronJob });
      await this.client.delete({ ...CONFIG_MAP, namespace, name: names.destination });
    }
  }

  /** from the Node informer's cache; a node that joins or leaves re-enqueues the Registries (operator.ts) */
  private async nodeAddresses(): Promise<string[]> {
    return (await this.client.list<V1Node>('v1', 'Node', undefined, '')).flatMap(admittedAddresses);
  }

  /**
   * With an autoscaler the operator stops applying spec.replicas. Server-side apply would then remove the field
   * the operator owned, and the Deployment would drop to 1 replica until the autoscaler scaled it up again. So the
   * current count is first applied under another manager, which keeps the field until the autoscaler changes it
   * (an update by another manager takes a field over).
   */
  private async handOverReplicas(previous: V1Deployment): Promise<void> {
    if (previous.spec?.replicas === undefined || !appliedReplicas(previous)) return;
    await this.client.apply({
      ...DEPLOYMENT,
      metadata: { name: previous.metadata!.name!, namespace: previous.metadata!.namespace! },
      spec: { replicas: previous.spec.replicas },
    } as V1Deployment, { fieldManager: REPLICAS_HANDOVER_MANAGER });
  }

  /** the nodes' mirror credentials go to the node agent's namespace, when there is an agent to read them */
  private nodePullerCopyWanted(registry: Registry): boolean {
    return this.nodeAgentNamespace !== undefined && nodePullerWanted(registry);
  }

  /**
   * Pull Secrets and CA bundles in the listed namespaces, and the nodes' mirror credentials in the agent's
   * namespace; stale copies elsewhere are removed.
   */
  private async reconcileCopies(registry: Registry, inputs: RegistryInputs, mirrors: MirrorInputs): Promise<void> {
    const wanted = new Set(registry.spec.pullSecret?.namespaces ?? []);
    const names = childNames(registry.metadata.name);
    const kept = new Set([...wanted].flatMap((namespace) => [`Secret/${namespace}/${names.pullSecret}`, `ConfigMap/${namespace}/${names.caBundle}`]));
    if (this.nodePullerCopyWanted(registry) && mirrors.nodePullerPassword) {
      const copy = buildNodePullerCopy(registry, this.nodeAgentNamespace!, mirrors.nodePullerPassword);
      await this.client.apply(copy);
      kept.add(`Secret/${this.nodeAgentNamespace}/${nodePullerCopyName(registry.metadata.namespace, registry.metadata.name)}`);
    }
    for (const namespace of wanted) {
      const exists = await this.client.get({ apiVersion: 'v1', kind: 'Namespace', name: namespace });
      if (!exists) {
        this.events.warning(registry, 'PullSecretNamespaceMissing', `namespace ${namespace} does not exist; no pull Secret copied there`);
        continue;
      }
      await this.client.apply(buildPullSecret(registry, namespace, PULLER_USER, inputs.pullerPassword!, pullSecretHosts(registry)));
      if (inputs.tls?.caPem) await this.client.apply(buildCaBundle(registry, namespace, inputs.tls.caPem));
    }
    await this.deleteCopies(registry, (key) => !kept.has(key));
  }

  /** @param shouldDelete given `Kind/namespace/name` */
  private async deleteCopies(registry: Registry, shouldDelete: (key: string) => boolean): Promise<void> {
    const selector = `${MANAGED_SELECTOR},${SOURCE_LABEL}=${sourceLabel(registry)}`;
    for (const type of [SECRET, CONFIG_MAP]) {
      for (const copy of await this.client.list(type.apiVersion, type.kind, undefined, selector)) {
        const namespace = copy.metadata!.namespace!;
        const name = copy.metadata!.name!;
        if (shouldDelete(`${type.kind}/${namespace}/${name}`)) await this.client.delete({ ...type, namespace, name });
      }
    }
  }

  private async reportDegraded(registry: Registry, reason: string, message: string): Promise<ReconcileResult> {
    this.events.warning(registry, reason, message);
    const ready = findCondition(registry.status?.conditions, 'Ready');
    await this.writeStatus(registry, {}, [
      { type: 'Degraded', status: 'True', reason, message },
      // a registry already serving keeps serving its last good configuration; say so rather than flip Ready
      ready ? { type: 'Ready', status: ready.status as ConditionUpdate['status'], reason: ready.reason ?? 'Unknown', message: ready.message ?? '' }
        : { type: 'Ready', status: 'False', reason, message },
      { type: 'Progressing', status: 'False', reason, message: 'blocked until the problem above is fixed' },
    ]);
    return { requeueAfterMs: DEGRADED_RETRY_MS };
  }

  private async reportProgress(registry: Registry, inputs: RegistryInputs, deployment: V1Deployment, pods: V1Pod[]): Promise<ReconcileResult> {
    const desired = desiredReplicas(registry, deployment);
    const status = deployment.status ?? {};
    const ready = status.readyReplicas ?? 0;
    const updated = (status.updatedReplicas ?? 0) >= desired && (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
    const rolledOut = updated && ready >= desired && (status.replicas ?? 0) <= desired;
    const conditions: ConditionUpdate[] = [{ type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no problems found' }];
    if (desired === 0) {
      conditions.push({ type: 'Ready', status: 'False', reason: 'ScaledToZero', message: 'spec.replicas is 0' });
    } else if (rolledOut) {
      conditions.push({ type: 'Ready', status: 'True', reason: 'Available', message: `${ready}/${desired} replicas ready` });
    } else {
      conditions.push({ type: 'Ready', status: 'False', reason: 'Deploying', message: `${ready}/${desired} replicas ready` });
    }
    conditions.push(rolledOut || desired === 0
      ? { type: 'Progressing', status: 'False', reason: 'RolloutComplete', message: 'the registry runs the current configuration' }
      : { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `${status.updatedReplicas ?? 0}/${desired} replicas updated` });
    const previousDegraded = findCondition(registry.status?.conditions, 'Degraded');
    const scraped = await this.scrapePods(registry, pods);
    const authFailures = scraped
      .map(({ pod, text }) => ({ pod, files: text === null ? [] : failedAuthFiles(text) }))
      .filter((failure) => failure.files.length > 0);
    const unready = await this.unreadyPods(registry, pods);
    if (unready.length > 0) {
      // pods that cannot serve at all come before pods serving stale users
      const message = describeUnreadyPods(unready);
      conditions[0] = { type: 'Degraded', status: 'True', reason: REGISTRY_NOT_READY, message };
      this.events.warning(registry, REGISTRY_NOT_READY, message);
    } else if (authFailures.length > 0) {
      const message = describeAuthReloadFailures(authFailures);
      conditions[0] = { type: 'Degraded', status: 'True', reason: AUTH_RELOAD_FAILED, message };
      this.events.warning(registry, AUTH_RELOAD_FAILED, message);
    } else if (previousDegraded?.status === 'True' && previousDegraded.reason === AUTH_RELOAD_FAILED) {
      this.events.normal(registry, 'AuthReloaded', 'every registry pod serves the current users and access rules again');
    }
    const nodeAccess = nodeAccessStatus(registry, rolledOut, await this.nodeAgentView(), findCondition(registry.status?.conditions, NODE_ACCESS_CONDITION));
    conditions.push(nodeAccess.condition);
    if (nodeAccess.warning) this.events.warning(registry, nodeAccess.warning.reason, nodeAccess.warning.message);
    const wasReady = findCondition(registry.status?.conditions, 'Ready')?.status === 'True';
    const metricsTexts = scraped.flatMap(({ text }) => (text === null ? [] : [text]));
    // replicas share the storage: any pod's figure will do
    const stored = ready > 0 ? metricsTexts.map(storedBytes).find((bytes) => bytes !== null) ?? null : null;
    const ui = uiUrl(registry);
    const backup = registry.spec.backup ? await lastBackup(this.client, registry) : null;
    if (backup) announceBackup(this.events, registry, backup);
    await this.writeStatus(registry, {
      url: registryUrl(registry),
      ...(ui ? { uiUrl: ui } : {}),
      readyReplicas: ready,
      ...(stored !== null ? { storageUsed: formatBytes(stored) } : {}),
      ...(inputs.tls?.caSecretName ? { caSecretName: inputs.tls.caSecretName } : {}),
      ...(nodeAccess.nodesConfigured ? { nodesConfigured: nodeAccess.nodesConfigured } : {}),
      ...this.mirrorStatus(registry, metricsTexts),
      ...(backup ? { lastBackup: backup } : {}),
    }, conditions, [...(ui ? [] : ['uiUrl' as const]), ...(backup ? [] : ['lastBackup' as const])]);
    if (rolledOut && !wasReady) this.events.normal(registry, 'Ready', `registry is ready at ${registryUrl(registry)}`);
    if (!rolledOut && desired > 0) return { requeueAfterMs: ROLLOUT_POLL_MS };
    const untilRenewal = inputs.tls?.renewAt ? inputs.tls.renewAt.getTime() - this.now().getTime() : Infinity;
    const resync = authFailures.length > 0 || unready.length > 0 ? DEGRADED_RETRY_MS
      : backup?.result === 'Running' ? PROGRESS_POLL_MS : RESYNC_MS;
    return { requeueAfterMs: Math.max(1_000, Math.min(resync, untilRenewal)) };
  }

  private registryPods(registry: Registry): Promise<Array<V1Pod & KubernetesObject>> {
    const selector = Object.entries(selectorLabels(registry)).map(([label, value]) => `${label}=${value}`).join(',');
    return this.client.list<V1Pod & KubernetesObject>('v1', 'Pod', registry.metadata.namespace, selector);
  }

  /**
   * The kubelet refreshes a running pod's Secret volumes on its periodic sync (about a minute) or at once when the
   * pod object changes: an annotation carrying the mounted content's hash makes new credentials and certificates
   * reach the pods in seconds, without a restart.
   */
  private async nudgePods(registry: Registry, pods: V1Pod[], mountedHash: string): Promise<void> {
    for (const pod of pods) {
      if (pod.metadata?.deletionTimestamp || pod.metadata?.annotations?.[MOUNTED_SECRETS_ANNOTATION] === mountedHash) continue;
      await this.client.annotate({ apiVersion: 'v1', kind: 'Pod', namespace: registry.metadata.namespace, name: pod.metadata!.name! }, { [MOUNTED_SECRETS_ANNOTATION]: mountedHash });
    }
  }

  /** each running registry pod's metrics text (null when it did not answer) */
  private async scrapePods(registry: Registry, pods: V1Pod[]): Promise<Array<{ pod: string; text: string | null }>> {
    const namespace = registry.metadata.namespace;
    return Promise.all(scrapablePods(pods).map(async (pod) => ({ pod: pod.name, text: await this.podMetrics({ namespace, name: pod.name, ip: pod.ip }) })));
  }

  /** running pods that fail their readiness probe and say why; one merely starting says nothing yet */
  private async unreadyPods(registry: Registry, pods: V1Pod[]): Promise<UnreadyPod[]> {
    const namespace = registry.metadata.namespace;
    const answers = await Promise.all(unreadyPods(pods).map(async (pod) => {
      const answer = await this.podReadiness({ namespace, name: pod.name, ip: pod.ip });
      return { pod: pod.name, causes: answer ? readinessCauses(answer) : [] };
    }));
    return answers.filter((answer) => answer.causes.length > 0);
  }

  /** per mirror: cached bytes and hit ratio; with no pod to ask, the figures last written stay */
  private mirrorStatus(registry: Registry, podMetricsTexts: string[]): Pick<RegistryStatus, 'mirrors' | 'mirrorsCached'> {
    const mirrors = registry.spec.mirrors ?? [];
    if (mirrors.length === 0) {
      // a merge patch removes a field only when it is null
      const stale = registry.status?.mirrors !== undefined || registry.status?.mirrorsCached !== undefined;
      return stale ? { mirrors: null, mirrorsCached: null } as unknown as Pick<RegistryStatus, 'mirrors' | 'mirrorsCached'> : {};
    }
    if (podMetricsTexts.length === 0) return {};
    const figures = mirrorFigures(podMetricsTexts);
    let total = 0;
    const statuses = mirrors.map((mirror) => {
      const prefix = mirrorPrefix(mirror.registry);
      const figure = figures.get(prefix);
      const ratio = figure ? hitRatio(figure) : undefined;
      total += figure?.cachedBytes ?? 0;
      return {
        registry: mirror.registry,
        prefix,
        ...(figure?.cachedBytes != null ? { cachedBytes: formatBytes(figure.cachedBytes) } : {}),
        ...(ratio !== undefined ? { hitRatio: ratio } : {}),
      };
    });
    return { mirrors: statuses, mirrorsCached: formatBytes(total) };
  }
}
