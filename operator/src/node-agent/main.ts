// regop-node-agent: runs on every node (a DaemonSet), so that the node's containerd pulls a Registry's images
// by the host in its status.url, through its Service's ClusterIP, verifying TLS against its CA, and the hosts a
// Registry mirrors through that Registry first. Reads Registries, their Services and their published CA
// ConfigMaps, and in its own namespace only, the nodes' mirror credentials the operator copies there; writes only
// into containerd's hosts directory
// (a hostPath mount) and one report ConfigMap for its node, which the operator aggregates into the Registry's
// status.
import { readFile } from 'node:fs/promises';
import {
  CoreV1Api, CustomObjectsApi, KubeConfig, type KubernetesObject, type V1ConfigMap, type V1Secret, type V1Service,
} from '@kubernetes/client-node';
import { mirrorPrefix } from '../api/v1alpha1/mirrors.ts';
import pino from 'pino';
import { GROUP, REGISTRY_PLURAL, VERSION, type Registry } from '../api/v1alpha1/registry.ts';
import { isNotFound } from '../kube/cluster-client.ts';
import { KubernetesClusterClient } from '../kube/kubernetes-cluster-client.ts';
import { shareConnections } from '../kube/shared-connections.ts';
import { MANAGED_SELECTOR, REGISTRY_LABEL, SOURCE_LABEL } from '../resources/names.ts';
import { NODE_CA_LABEL, nodeCaName, upstreamCaKey } from '../resources/node-ca.ts';
import { NODE_PULLER_LABEL, nodePullerCopyName } from '../resources/mirror-secret.ts';
import { Controller } from '../runtime/controller.ts';
import { startHealthServer } from '../runtime/health.ts';
import { informerFactory, keyOf, ownerKeyOf, type SupervisedInformer } from '../runtime/informer.ts';
import { OperatorMetrics } from '../runtime/metrics.ts';
import { NodeAgent } from './agent.ts';
import { HostsDirectory } from './hosts-directory.ts';
import { probeRegistry } from './probe.ts';
import { buildReportConfigMap } from './report.ts';
import { checkContainerdConfig } from './runtime-config.ts';

const env = process.env;
function required(name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

const node = required('NODE_NAME');
const namespace = required('POD_NAMESPACE');
/** containerd's hosts directory and config file as the node sees them (for hosts.toml and messages) ... */
const certsDir = env.REGOP_NODE_CERTS_DIR ?? '/etc/containerd/certs.d';
const containerdConfig = env.REGOP_CONTAINERD_CONFIG ?? '/etc/containerd/config.toml';
/** ... and where they are mounted in this container */
const certsMount = env.REGOP_NODE_CERTS_MOUNT ?? '/host/certs.d';
const containerdConfigMount = env.REGOP_CONTAINERD_CONFIG_MOUNT ?? '/host/containerd-config/config.toml';
const CHECK_INTERVAL_MS = 60_000;

const logger = pino({ level: env.REGOP_LOG_LEVEL ?? 'info', base: { service: 'regop-node-agent', node } });
const kubeConfig = shareConnections(new KubeConfig());
kubeConfig.loadFromDefault();
const metrics = new OperatorMetrics();
const core = kubeConfig.makeApiClient(CoreV1Api);
const custom = kubeConfig.makeApiClient(CustomObjectsApi);
const client = new KubernetesClusterClient(kubeConfig, 'regop-node-agent', {});
const directory = new HostsDirectory(certsMount);

const informer = informerFactory({ kubeConfig, logger, metrics });
const registries = informer<Registry & KubernetesObject>('registries', `/apis/${GROUP}/${VERSION}/${REGISTRY_PLURAL}`,
  () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: REGISTRY_PLURAL }), (registry) => loop.enqueue(keyOf(registry)));
const services = informer<V1Service>('services', '/api/v1/services', () => core.listServiceForAllNamespaces({ labelSelector: MANAGED_SELECTOR }),
  enqueueOwner, MANAGED_SELECTOR);
const caMaps = informer<V1ConfigMap>('configmaps', '/api/v1/configmaps',
  () => core.listConfigMapForAllNamespaces({ labelSelector: `${NODE_CA_LABEL}=true` }), enqueueOwner, `${NODE_CA_LABEL}=true`);
const nodeCredentials = informer<V1Secret>('secrets', `/api/v1/namespaces/${namespace}/secrets`,
  () => core.listNamespacedSecret({ namespace, labelSelector: `${NODE_PULLER_LABEL}=true` }), enqueueSource, `${NODE_PULLER_LABEL}=true`);
const informers = [registries, services, caMaps, nodeCredentials];

function find<T extends KubernetesObject>(from: SupervisedInformer<T>, ns: string, name: string): T | undefined {
  return from.list().find((o) => o.metadata?.namespace === ns && o.metadata?.name === name);
}

const agent = new NodeAgent({
  node,
  certsDir,
  directory,
  registry: (ns, name) => find(registries, ns, name),
  // a Service or ConfigMap only counts when the operator made it for that Registry
  service: (ns, name) => {
    const service = find(services, ns, name);
    return service?.metadata?.labels?.[REGISTRY_LABEL] === name ? service : undefined;
  },
  ca: (ns, name) => {
    const map = find(caMaps, ns, nodeCaName(name));
    if (map?.metadata?.labels?.[REGISTRY_LABEL] !== name) return undefined;
    const pem = map.data?.['ca.crt'];
    const upstreamCas: Record<string, string> = {};
    for (const mirror of find(registries, ns, name)?.spec?.mirrors ?? []) {
      const upstreamCa = map.data?.[upstreamCaKey(mirrorPrefix(String(mirror?.registry)))];
      if (upstreamCa) upstreamCas[mirrorPrefix(mirror.registry)] = upstreamCa;
    }
    return { ...(pem ? { pem } : {}), upstreamCas };
  },
  nodeCredentials: (ns, name) => {
    const secret = find(nodeCredentials, namespace, nodePullerCopyName(ns, name));
    const value = (key: string) => (secret?.data?.[key] ? Buffer.from(secret.data[key], 'base64').toString('utf8') : undefined);
    const username = value('username');
    const password = value('password');
    return username && password ? { username, password } : undefined;
  },
  synced: () => informers.every((i) => i.hasSynced()),
  confirmGone: async (ns, name) => {
    try {
      await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: REGISTRY_PLURAL, name });
      return false;
    } catch (error) {
      if (isNotFound(error)) return true;
      throw error;
    }
  },
  probe: (server, caPem) => probeRegistry(server, caPem),
  reportChanged: () => scheduleReport(),
  logger,
});

const loop = new Controller({ name: 'node-agent', reconcile: (key) => agent.reconcile(key), logger, metrics });

/** the operator labels a Registry's children with its name */
function enqueueOwner(object: KubernetesObject): void {
  const owner = ownerKeyOf(object, REGISTRY_LABEL);
  if (owner) loop.enqueue(owner);
}

/** a copy in this namespace names its Registry as `<namespace>.<name>` (a namespace has no dots) */
function enqueueSource(object: KubernetesObject): void {
  const source = object.metadata?.labels?.[SOURCE_LABEL];
  if (source?.includes('.')) loop.enqueue(source.replace('.', '/'));
}

let reportTimer: NodeJS.Timeout | undefined;
function scheduleReport(): void {
  if (reportTimer) return;
  // changes come in bursts (a resync reconciles every Registry): one write for the lot
  reportTimer = setTimeout(() => {
    reportTimer = undefined;
    void publishReport();
  }, 500);
}

async function publishReport(): Promise<void> {
  const pod = env.POD_NAME && env.POD_UID ? { name: env.POD_NAME, uid: env.POD_UID } : undefined;
  try {
    await client.apply(buildReportConfigMap(namespace, agent.report(), pod));
  } catch (error) {
    logger.warn({ reason: (error as Error).message }, 'could not publish the node report; retrying');
    setTimeout(scheduleReport, 5_000).unref();
  }
}

async function readConfig(): Promise<string | undefined> {
  try {
    return await readFile(containerdConfigMount, 'utf8');
  } catch {
    return undefined;
  }
}

async function checkNode(): Promise<void> {
  const runtime = checkContainerdConfig(await readConfig(), containerdConfig, certsDir);
  const writable = await directory.writable();
  if (!runtime.ok) logger.warn({ reason: runtime.reason, message: runtime.message }, 'containerd will not read the hosts directory');
  if (!writable.ok) logger.warn({ reason: writable.reason, message: writable.message }, 'hosts directory not writable');
  agent.setChecks(runtime, writable);
}

const healthServer = await startHealthServer(Number(env.REGOP_HEALTH_PORT ?? 8082), metrics, () => informers.every((i) => i.hasSynced()));
await checkNode();
for (const key of await agent.load()) loop.enqueue(key);
loop.start();
for (const i of informers) i.start().catch((error: unknown) => logger.error({ err: error }, 'informer failed to start'));
const periodic = setInterval(() => {
  void checkNode();
  // files on disk whose Registry left while no event said so (the agent was down, a missed delete)
  for (const key of agent.ownedKeys()) loop.enqueue(key);
  scheduleReport();
}, CHECK_INTERVAL_MS);
scheduleReport();
logger.info({ certsDir, containerdConfig }, 'regop node agent started');

async function shutdown(signal: string): Promise<void> {
  logger.info({ signal }, 'shutting down; the files written stay, so pulls keep working');
  clearInterval(periodic);
  await Promise.all(informers.map((i) => i.stop()));
  await loop.stop();
  healthServer.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
