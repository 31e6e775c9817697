// Installs (or upgrades) the chart with the image under test, as an admin would, and what the e2e suites ask of the
// Registries it runs: whether one is Ready, its Secrets, a client through its NodePort.
import { getJson, IMAGE, KUBECONFIG, waitFor } from './kube.ts';
import { acceptsConnections } from './port.ts';
import { clientFor, type Client } from './http.ts';
import type { RunningRegistry } from './registry.ts';
import { isolatedHome, run } from '../registry/tools.ts';

export const RELEASE = 'regop';
export const OPERATOR_NAMESPACE = 'regop-system';

/**
 * `helm upgrade --install` of the chart (default: this checkout's) with the image under test. The chart carries
 * the CRDs as templates, so an upgrade updates them; `--take-ownership` adopts CRDs an earlier install left
 * without Helm's labels (from the chart's old `crds/` folder, or `kubectl apply -f crds/`).
 */
export async function installOperator(chart = 'charts/regop'): Promise<Record<string, string>> {
  const env = { ...isolatedHome(), KUBECONFIG };
  const [repository, tag] = IMAGE.split(':');
  await run('helm', ['upgrade', '--install', RELEASE, chart, '--namespace', OPERATOR_NAMESPACE, '--create-namespace', '--take-ownership',
    '--set', `image.repository=${repository}`, '--set', `image.tag=${tag ?? 'dev'}`, '--set', 'image.pullPolicy=IfNotPresent',
    '--wait', '--timeout', '180s'], { env, timeoutMs: 240_000 });
  return env;
}

/** the Registry as the API server has it, or null */
export function getRegistry(namespace: string, name: string): Promise<any> {
  return getJson(['-n', namespace, 'get', 'registry', name]);
}

export interface Condition { type: string; status: string; reason: string; message: string }

/** one condition of the Registry's status, if it has it */
export async function registryCondition(namespace: string, name: string, type: string): Promise<Condition | undefined> {
  return (await getRegistry(namespace, name))?.status?.conditions?.find((c: Condition) => c.type === type);
}

/** Ready for its current generation: its pods rolled out with the current spec */
export async function registryReady(namespace: string, name: string): Promise<boolean> {
  const registry = await getRegistry(namespace, name);
  return registry?.status?.observedGeneration === registry?.metadata?.generation
    && registry?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
}

/** one key of a Secret, decoded */
export async function secretText(namespace: string, name: string, key: string): Promise<string> {
  return Buffer.from((await getJson(['-n', namespace, 'get', 'secret', name])).data[key], 'base64').toString('utf8');
}

/**
 * A client of a Registry through its NodePort on this machine, trusting its CA, as one of its users (default:
 * admin). It waits for the port to accept connections: kube-proxy programs the NodePort's rules a moment after the
 * Registry's pods became ready, and until then connections are refused.
 */
export async function nodePortClient(namespace: string, name: string, nodePort: number, user = 'admin'): Promise<Client> {
  await waitFor(`NodePort ${nodePort} to accept connections`, () => acceptsConnections('127.0.0.1', nodePort), 60_000);
  const password = await secretText(namespace, `${name}-user-${user}`, 'password');
  const caPem = await secretText(namespace, `${name}-ca`, 'ca.crt');
  return clientFor({ url: `https://127.0.0.1:${nodePort}`, caPem } as RunningRegistry, { name: user, password });
}
