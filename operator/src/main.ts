// regop-operator: reconciles Registry and RetentionPolicy resources. Runs in the cluster (service account) or
// outside it (KUBECONFIG). Only the replica holding the leader Lease runs the controllers.
import { hostname } from 'node:os';
import {
  AppsV1Api, BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type KubernetesObject, type V1ConfigMap,
} from '@kubernetes/client-node';
import pino from 'pino';
import { GROUP, REGISTRY_PLURAL, VERSION } from './api/v1alpha1/registry.ts';
import { RETENTION_POLICY_PLURAL, type RetentionPolicy } from './api/v1alpha1/retention-policy.ts';
import { RegistryController } from './controllers/registry-controller.ts';
import { RetentionPolicyController } from './controllers/retention-policy-controller.ts';
import { nodeAgentView, registriesInReport } from './controllers/node-agent-view.ts';
import { NODE_REPORT_LABEL } from './node-agent/report.ts';
import { KubernetesClusterClient } from './kube/kubernetes-cluster-client.ts';
import { FIELD_MANAGER, MANAGED_SELECTOR, OPS_PORT, REGISTRY_LABEL } from './resources/names.ts';
import { RETENTION_POLICY_LABEL } from './resources/retention-cronjob.ts';
import { Controller } from './runtime/controller.ts';
import { EventRecorder } from './runtime/events.ts';
import { startHealthServer } from './runtime/health.ts';
import { informerFactory, keyOf, ownerKeyOf } from './runtime/informer.ts';
import { LeaderElector } from './runtime/leader-election.ts';
import type { ReadinessAnswer } from './status/pod-readiness.ts';
import { OperatorMetrics } from './runtime/metrics.ts';

const env = process.env;
const logger = pino({ level: env.REGOP_LOG_LEVEL ?? 'info', base: { service: 'regop-operator' } });
const image = env.REGOP_REGISTRY_IMAGE ?? 'regop:dev';
const imagePullPolicy = env.REGOP_REGISTRY_IMAGE_PULL_POLICY || undefined;
const identity = env.POD_NAME ?? `${hostname()}-${process.pid}`;

const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
const metrics = new OperatorMetrics();
const core = kubeConfig.makeApiClient(CoreV1Api);
const apps = kubeConfig.makeApiClient(AppsV1Api);
const batch = kubeConfig.makeApiClient(BatchV1Api);
const custom = kubeConfig.makeApiClient(CustomObjectsApi);
const client = new KubernetesClusterClient(kubeConfig, FIELD_MANAGER, { Registry: REGISTRY_PLURAL, RetentionPolicy: RETENTION_POLICY_PLURAL });
const events = new EventRecorder(core, 'regop-operator', logger.child({ component: 'events' }));

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

/** its Prometheus metrics */
async function podMetrics(pod: { ip: string }): Promise<string | null> {
  const answer = await askPod(pod, '/metrics');
  return answer?.status === 200 ? answer.body : null;
}

/** its readiness verdict, with the causes when it is not ready */
const podReadiness = (pod: { ip: string }) => askPod(pod, '/readyz');

// the node agent runs beside the operator, from the same chart: `<release fullname>-node-agent`
const nodeAgentNamespace = env.REGOP_LEADER_ELECTION_NAMESPACE ?? 'default';
const informer = informerFactory({ kubeConfig, logger, metrics });
const nodeReportsInformer = informer<V1ConfigMap>('node-reports', `/api/v1/namespaces/${nodeAgentNamespace}/configmaps`,
  () => core.listNamespacedConfigMap({ namespace: nodeAgentNamespace, labelSelector: `${NODE_REPORT_LABEL}=true` }),
  (report) => { for (const key of registriesInReport(report)) registryLoop.enqueue(key); }, `${NODE_REPORT_LABEL}=true`);
const nodeAgent = nodeAgentView({
  client, namespace: nodeAgentNamespace, name: env.REGOP_NODE_AGENT_DAEMONSET ?? `${env.REGOP_LEADER_ELECTION_ID ?? 'regop-operator'}-node-agent`,
  reports: () => nodeReportsInformer.list(),
});
const registries = new RegistryController({ client, events, defaultImage: image, podMetrics, podReadiness, nodeAgentView: nodeAgent, nodeAgentNamespace, operatorNamespace: nodeAgentNamespace, ...(imagePullPolicy ? { defaultImagePullPolicy: imagePullPolicy } : {}) });
const policies = new RetentionPolicyController({ client, events, defaultImage: image, ...(imagePullPolicy ? { defaultImagePullPolicy: imagePullPolicy } : {}) });
const registryLoop = new Controller({ name: 'registry', reconcile: (key) => registries.reconcile(key), logger, metrics, workers: 2 });
const policyLoop = new Controller({ name: 'retentionpolicy', reconcile: (key) => policies.reconcile(key), logger, metrics });

const policyInformer = informer<RetentionPolicy & KubernetesObject>('retentionpolicies', `/apis/${GROUP}/${VERSION}/${RETENTION_POLICY_PLURAL}`,
  () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: RETENTION_POLICY_PLURAL }),
  (policy) => policyLoop.enqueue(keyOf(policy)));
const informers = [
  informer('registries', `/apis/${GROUP}/${VERSION}/${REGISTRY_PLURAL}`,
    () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: REGISTRY_PLURAL }),
    (registry) => {
      registryLoop.enqueue(keyOf(registry));
      // a policy waits for its Registry (and its CA): tell the policies that name this one
      for (const policy of policyInformer.list()) {
        if (policy.metadata?.namespace === registry.metadata?.namespace && policy.spec.registryRef.name === registry.metadata?.name) {
          policyLoop.enqueue(keyOf(policy));
        }
      }
    }),
  policyInformer,
  nodeReportsInformer,
  informer('deployments', '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces({ labelSelector: MANAGED_SELECTOR }),
    (object) => enqueueOwner(object, REGISTRY_LABEL, registryLoop), MANAGED_SELECTOR),
  informer('secrets', '/api/v1/secrets', () => core.listSecretForAllNamespaces({ labelSelector: MANAGED_SELECTOR }),
    (object) => enqueueOwner(object, REGISTRY_LABEL, registryLoop), MANAGED_SELECTOR),
  // retention Jobs report to their policy, backup Jobs to their Registry
  informer('jobs', '/apis/batch/v1/jobs', () => batch.listJobForAllNamespaces({ labelSelector: MANAGED_SELECTOR }),
    (object) => {
      enqueueOwner(object, RETENTION_POLICY_LABEL, policyLoop);
      enqueueOwner(object, REGISTRY_LABEL, registryLoop);
    }, MANAGED_SELECTOR),
];

/** children carry their owner's name in a label; a change to one re-reconciles the owner */
function enqueueOwner(object: KubernetesObject, label: string, loop: Controller): void {
  const owner = ownerKeyOf(object, label);
  if (owner) loop.enqueue(owner);
}

const elector = new LeaderElector({
  client: kubeConfig.makeApiClient(CoordinationV1Api),
  namespace: env.REGOP_LEADER_ELECTION_NAMESPACE ?? 'default',
  name: env.REGOP_LEADER_ELECTION_ID ?? 'regop-operator',
  identity,
  logger,
});

let leading = false;
const healthServer = await startHealthServer(Number(env.REGOP_HEALTH_PORT ?? 8081), metrics,
  // a standby replica is ready too: it is healthy, only waiting for the lease
  () => !leading || informers.every((i) => i.hasSynced()));

elector.run({
  onStartedLeading() {
    leading = true;
    metrics.leader.set(1);
    registryLoop.start();
    policyLoop.start();
    for (const i of informers) {
      i.start().catch((error: unknown) => logger.error({ err: error }, 'informer failed to start'));
    }
  },
  onStoppedLeading() {
    // another replica may already be reconciling: stop at once rather than race it
    logger.error('leadership lost; exiting');
    process.exit(1);
  },
});
logger.info({ identity, image }, 'regop operator started');

async function shutdown(signal: string): Promise<void> {
  logger.info({ signal }, 'shutting down');
  await Promise.all(informers.map((i) => i.stop()));
  await Promise.all([registryLoop.stop(), policyLoop.stop()]);
  await elector.stop();
  healthServer.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
