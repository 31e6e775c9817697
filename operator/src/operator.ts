// The operator, wired: informers whose callbacks only enqueue keys, the cache-backed client the reconcilers read
// through (writes go to the API server), the Registry and RetentionPolicy loops, leader election on a Lease and
// the health server. createOperator() builds it; start() serves /healthz, /readyz and /metrics and campaigns for
// the lease; once leading it starts the informers and, when their caches have synced, the loops. stop() stops all
// of it and releases the lease. Nothing here exits the process: main.ts decides that.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AppsV1Api, BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, NetworkingV1Api,
  type KubeConfig, type KubernetesObject, type V1ConfigMap, type V1Node,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION, GROUP, REGISTRY_KIND, REGISTRY_PLURAL, VERSION, type Registry } from './api/v1alpha1/registry.ts';
import { RETENTION_POLICY_KIND, RETENTION_POLICY_PLURAL, type RetentionPolicy } from './api/v1alpha1/retention-policy.ts';
import { NodeAddressChanges } from './controllers/node-addresses.ts';
import { nodeAgentView, registriesInReport } from './controllers/node-agent-view.ts';
import { RegistryController } from './controllers/registry-controller.ts';
import { RetentionPolicyController } from './controllers/retention-policy-controller.ts';
import { CachedClusterClient, type CachedKind } from './kube/cached-cluster-client.ts';
import { KubernetesClusterClient } from './kube/kubernetes-cluster-client.ts';
import { NODE_REPORT_LABEL } from './node-agent/report.ts';
import { networkPolicyEnabled } from './resources/network-policy.ts';
import { FIELD_MANAGER, MANAGED_SELECTOR, OPS_PORT, REGISTRY_LABEL } from './resources/names.ts';
import { RETENTION_POLICY_LABEL } from './resources/retention-cronjob.ts';
import { Controller } from './runtime/controller.ts';
import { EventRecorder } from './runtime/events.ts';
import { startHealthServer } from './runtime/health.ts';
import { informerFactory, keyOf, ownerKeyOf, type SupervisedInformer } from './runtime/informer.ts';
import { LeaderElector, type LeaderElectionOptions } from './runtime/leader-election.ts';
import { OperatorMetrics } from './runtime/metrics.ts';
import type { ReadinessAnswer } from './status/pod-readiness.ts';

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  /** the registry image a Registry runs unless its spec names one */
  image: string;
  imagePullPolicy?: string;
  /** this replica's name in the leader Lease */
  identity: string;
  /** the release namespace: the leader Lease, the node agent and its reports are there */
  namespace: string;
  /** the leader Lease */
  leaseName: string;
  /** the node agent's DaemonSet, in `namespace` */
  nodeAgentDaemonSet: string;
  /** 0: any free port (healthPort() tells which) */
  healthPort: number;
  /** every interface when not given */
  healthHost?: string;
  logger: Logger;
  /**
   * Leadership was lost after it was held: another replica may already reconcile. The loops and informers are
   * stopping when this is called; main.ts exits rather than race the new leader.
   */
  onLeadershipLost?(): void;
  /** how long the loops wait for the caches before they start anyway (a kind not synced is read live); 60 s */
  cacheSyncTimeoutMs?: number;
  /** for tests */
  leaderElection?: Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>;
}

export interface Operator {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** the health server's port once started */
  healthPort(): number | undefined;
  isLeading(): boolean;
  readonly metrics: OperatorMetrics;
}

/**
 * Registries reconciled at once. A reconcile mostly waits (the API server, the pods' ops ports, key generation on
 * the thread pool), so more than one keeps the event loop busy: with 2, 50 Registries applied at once queued for
 * minutes behind each other's waits; with 8 the last of them had its Deployment after 35 s, with 24 after 23 s
 * (operator on the host of the local cluster, requests over one shared connection). The same Registry is never
 * reconciled twice at a time.
 */
const REGISTRY_WORKERS = 24;

/**
 * One answer of a registry pod's plain-HTTP ops port, straight from its address (the Service would answer for any
 * one pod); null when it does not answer (e.g. the operator runs outside the cluster).
 */
async function askPod(pod: { ip: string }, path: string): Promise<ReadinessAnswer | null> {
  const host = pod.ip.includes(':') ? `[${pod.ip}]` : pod.ip;
  try {
    const response = await fetch(`http://${host}:${OPS_PORT}${path}`, { signal: AbortSignal.timeout(1500) });
    return { status: response.status, body: await response.text() };
  } catch {
    return null;
  }
}

const podMetrics = async (pod: { ip: string }): Promise<string | null> => {
  const answer = await askPod(pod, '/metrics');
  return answer?.status === 200 ? answer.body : null;
};
const podReadiness = (pod: { ip: string }) => askPod(pod, '/readyz');

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export function createOperator(options: OperatorOptions): Operator {
  const { kubeConfig, logger, namespace } = options;
  const metrics = new OperatorMetrics();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const batch = kubeConfig.makeApiClient(BatchV1Api);
  const networking = kubeConfig.makeApiClient(NetworkingV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const live = new KubernetesClusterClient(kubeConfig, FIELD_MANAGER, { [REGISTRY_KIND]: REGISTRY_PLURAL, [RETENTION_POLICY_KIND]: RETENTION_POLICY_PLURAL });
  const events = new EventRecorder(core, 'regop-operator', logger.child({ component: 'events' }));
  const informer = informerFactory({ kubeConfig, logger, metrics });

  // the loops come first: informer callbacks enqueue into them (a queue holds keys until its loop starts)
  let registryLoop: Controller;
  let policyLoop: Controller;
  /** children carry their owner's name in a label; a change to one re-reconciles the owner */
  const enqueueOwner = (object: KubernetesObject, label: string, loop: Controller) => {
    const owner = ownerKeyOf(object, label);
    if (owner) loop.enqueue(owner);
  };
  const toRegistry = (object: KubernetesObject) => enqueueOwner(object, REGISTRY_LABEL, registryLoop);
  // retention Jobs and their rules report to their policy, backup Jobs and everything else to their Registry
  const toOwner = (object: KubernetesObject) => {
    enqueueOwner(object, RETENTION_POLICY_LABEL, policyLoop);
    enqueueOwner(object, REGISTRY_LABEL, registryLoop);
  };
  const managed = <T extends KubernetesObject>(resource: string, path: string, list: () => Promise<unknown>, onChange: (object: T) => void) =>
    informer<T>(resource, path, list, onChange, MANAGED_SELECTOR);

  const policies = informer<RetentionPolicy & KubernetesObject>('retentionpolicies', `/apis/${GROUP}/${VERSION}/${RETENTION_POLICY_PLURAL}`,
    () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: RETENTION_POLICY_PLURAL }),
    (policy) => policyLoop.enqueue(keyOf(policy)));
  const registries = informer<Registry & KubernetesObject>('registries', `/apis/${GROUP}/${VERSION}/${REGISTRY_PLURAL}`,
    () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: REGISTRY_PLURAL }),
    (registry) => {
      registryLoop.enqueue(keyOf(registry));
      // a policy waits for its Registry (and its CA): tell the policies that name this one
      for (const policy of policies.list(registry.metadata?.namespace)) {
        if (policy.spec.registryRef.name === registry.metadata?.name) policyLoop.enqueue(keyOf(policy));
      }
    });
  const nodeReports = informer<V1ConfigMap>('node-reports', `/api/v1/namespaces/${namespace}/configmaps`,
    () => core.listNamespacedConfigMap({ namespace, labelSelector: `${NODE_REPORT_LABEL}=true` }),
    (report) => { for (const key of registriesInReport(report)) registryLoop.enqueue(key); }, `${NODE_REPORT_LABEL}=true`);
  // a node that joins, leaves or changes address changes every fenced Registry's NetworkPolicy
  const nodeChanges = new NodeAddressChanges();
  const nodes = informer<V1Node & KubernetesObject>('nodes', '/api/v1/nodes', () => core.listNode(), (node, event) => {
    if (!nodeChanges.changed(node, event)) return;
    for (const registry of registries.list()) if (networkPolicyEnabled(registry)) registryLoop.enqueue(keyOf(registry));
  });
  const deployments = managed('deployments', '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces({ labelSelector: MANAGED_SELECTOR }), toRegistry);
  const secrets = managed('secrets', '/api/v1/secrets', () => core.listSecretForAllNamespaces({ labelSelector: MANAGED_SELECTOR }), toRegistry);
  const configMaps = managed('configmaps', '/api/v1/configmaps', () => core.listConfigMapForAllNamespaces({ labelSelector: MANAGED_SELECTOR }), toOwner);
  const services = managed('services', '/api/v1/services', () => core.listServiceForAllNamespaces({ labelSelector: MANAGED_SELECTOR }), toRegistry);
  const ingresses = managed('ingresses', '/apis/networking.k8s.io/v1/ingresses', () => networking.listIngressForAllNamespaces({ labelSelector: MANAGED_SELECTOR }), toRegistry);
  const cronJobs = managed('cronjobs', '/apis/batch/v1/cronjobs', () => batch.listCronJobForAllNamespaces({ labelSelector: MANAGED_SELECTOR }), toOwner);
  const jobs = managed('jobs', '/apis/batch/v1/jobs', () => batch.listJobForAllNamespaces({ labelSelector: MANAGED_SELECTOR }), toOwner);
  const informers: Array<SupervisedInformer<any>> = [registries, policies, nodeReports, nodes, deployments, secrets, configMaps, services, ingresses, cronJobs, jobs];

  // What the reconcilers read from memory. Read live: what the managed label does not cover (a user's Secrets and
  // ConfigMaps a Registry references, a backup claim, cert-manager's Secret), Pods (registry pods for readiness and
  // metrics, a finished Job's pod for its summary), Namespaces and the node agent's DaemonSet.
  const cachedKinds: CachedKind[] = [
    { apiVersion: API_VERSION, kind: REGISTRY_KIND, labelSelector: '', cache: registries },
    { apiVersion: API_VERSION, kind: RETENTION_POLICY_KIND, labelSelector: '', cache: policies },
    { apiVersion: 'v1', kind: 'Node', labelSelector: '', cache: nodes },
    { apiVersion: 'apps/v1', kind: 'Deployment', labelSelector: MANAGED_SELECTOR, cache: deployments },
    { apiVersion: 'v1', kind: 'Secret', labelSelector: MANAGED_SELECTOR, cache: secrets },
    { apiVersion: 'v1', kind: 'ConfigMap', labelSelector: MANAGED_SELECTOR, cache: configMaps },
    { apiVersion: 'v1', kind: 'Service', labelSelector: MANAGED_SELECTOR, cache: services },
    { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', labelSelector: MANAGED_SELECTOR, cache: ingresses },
    { apiVersion: 'batch/v1', kind: 'CronJob', labelSelector: MANAGED_SELECTOR, cache: cronJobs },
    { apiVersion: 'batch/v1', kind: 'Job', labelSelector: MANAGED_SELECTOR, cache: jobs },
  ];
  const client = new CachedClusterClient(live, cachedKinds);

  const nodeAgent = nodeAgentView({ client, namespace, name: options.nodeAgentDaemonSet, reports: () => nodeReports.list() });
  const pullPolicy = options.imagePullPolicy ? { defaultImagePullPolicy: options.imagePullPolicy } : {};
  const registryController = new RegistryController({
    client, events, defaultImage: options.image, podMetrics, podReadiness, nodeAgentView: nodeAgent,
    nodeAgentNamespace: namespace, operatorNamespace: namespace, ...pullPolicy,
  });
  const policyController = new RetentionPolicyController({ client, events, defaultImage: options.image, ...pullPolicy });
  registryLoop = new Controller({ name: 'registry', reconcile: (key) => registryController.reconcile(key), logger, metrics, workers: REGISTRY_WORKERS });
  policyLoop = new Controller({ name: 'retentionpolicy', reconcile: (key) => policyController.reconcile(key), logger, metrics });
  const loops = [registryLoop, policyLoop];

  const elector = new LeaderElector({
    client: kubeConfig.makeApiClient(CoordinationV1Api), namespace, name: options.leaseName, identity: options.identity, logger,
    ...options.leaderElection,
  });

  let leading = false;
  let stopped = false;
  let healthServer: Server | undefined;

  /** until every cache holds its first list, or the timeout: the loops then start with what there is */
  async function waitForCaches(): Promise<void> {
    const deadline = Date.now() + (options.cacheSyncTimeoutMs ?? 60_000);
    while (!stopped && !informers.every((i) => i.hasSynced())) {
      if (Date.now() > deadline) {
        const unsynced = informers.filter((i) => !i.hasSynced()).map((i) => i.resource);
        logger.warn({ unsynced }, 'caches not synced in time; starting the controllers (those kinds are read from the API server)');
        return;
      }
      await sleep(50);
    }
  }

  async function lead(): Promise<void> {
    leading = true;
    metrics.leader.set(1);
    for (const i of informers) i.start().catch((error: unknown) => logger.error({ err: error }, 'informer failed to start'));
    await waitForCaches();
    if (stopped || !leading) return;
    for (const loop of loops) loop.start();
    logger.info('caches synced; controllers started');
  }

  async function stopWork(): Promise<void> {
    await Promise.all(informers.map((i) => i.stop()));
    await Promise.all(loops.map((loop) => loop.stop()));
  }

  return {
    metrics,
    healthPort: () => (healthServer?.address() as AddressInfo | null)?.port,
    isLeading: () => leading,

    async start() {
      // a standby replica is ready too: it is healthy, only waiting for the lease
      healthServer = await startHealthServer(options.healthPort, metrics, () => !leading || informers.every((i) => i.hasSynced()), options.healthHost);
      elector.run({
        onStartedLeading() {
          if (!stopped) void lead();
        },
        onStoppedLeading() {
          leading = false;
          metrics.leader.set(0);
          void stopWork();
          options.onLeadershipLost?.();
        },
      });
      logger.info({ identity: options.identity, image: options.image }, 'regop operator started');
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      await stopWork();
      await elector.stop();
      leading = false;
      metrics.leader.set(0);
      const server = healthServer;
      if (server) {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
    },
  };
}
