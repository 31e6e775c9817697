// regop-operator: reconciles Registry and RetentionPolicy resources. Runs in the cluster (service account) or
// outside it (KUBECONFIG). Only the replica holding the leader Lease runs the controllers. The wiring is
// operator.ts; this entry reads the environment, stops on SIGTERM/SIGINT and exits when leadership is lost.
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { shareConnections } from './kube/shared-connections.ts';
import pino from 'pino';
import { createOperator } from './operator.ts';

const env = process.env;
const logger = pino({ level: env.REGOP_LOG_LEVEL ?? 'info', base: { service: 'regop-operator' } });
const kubeConfig = shareConnections(new KubeConfig());
kubeConfig.loadFromDefault();
const leaseName = env.REGOP_LEADER_ELECTION_ID ?? 'regop-operator';

const operator = createOperator({
  kubeConfig,
  logger,
  image: env.REGOP_REGISTRY_IMAGE ?? 'regop:dev',
  ...(env.REGOP_REGISTRY_IMAGE_PULL_POLICY ? { imagePullPolicy: env.REGOP_REGISTRY_IMAGE_PULL_POLICY } : {}),
  identity: env.POD_NAME ?? `${hostname()}-${process.pid}`,
  namespace: env.REGOP_LEADER_ELECTION_NAMESPACE ?? 'default',
  leaseName,
  // the node agent runs beside the operator, from the same chart: `<release fullname>-node-agent`
  nodeAgentDaemonSet: env.REGOP_NODE_AGENT_DAEMONSET ?? `${leaseName}-node-agent`,
  healthPort: Number(env.REGOP_HEALTH_PORT ?? 8081),
  onLeadershipLost() {
    // another replica may already be reconciling: stop at once rather than race it
    logger.error('leadership lost; exiting');
    process.exit(1);
  },
});

async function shutdown(signal: string): Promise<void> {
  logger.info({ signal }, 'shutting down');
  await operator.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
await operator.start();
