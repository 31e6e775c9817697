// Installs (or upgrades) the chart with the image under test, as an admin would, and what the e2e suites ask of the
// Registries it runs: whether one is Ready, its Secrets, a client through its NodePort.
import { getJson, IMAGE, KUBECONFIG } from './kube.ts';
import { clientFor, type Client } from './http.ts';
import type { RunningRegistry } from './registry.ts';
import { isolatedHome, run } from '../registry/tools.ts';

export const RELEASE = 'regop';
export const OPERATOR_NAMESPACE = 'regop-system';

export async function installOperator(): Promise<Record<string, string>> {
  const env = { ...isolatedHome(), KUBECONFIG };
  const [repository, tag] = IMAGE.split(':');
  await run('helm', ['upgrade', '--install', RELEASE, 'charts/regop', '--namespace', OPERATOR_NAMESPACE, '--create-namespace',
    '--set', `image.repository=${repository}`, '--set', `image.tag=${tag ?? 'dev'}`, '--set', 'image.pullPolicy=IfNotPresent',
    '--wait', '--timeout', '180s'], { env, timeoutMs: 240_000 });
  return env;
}

/** the Registry as the API server has it, or null */
export function getRegistry(namespace: string, name: string): Promise<any> {
  return getJson(['-n', namespace, 'get', 'registry', name]);
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

/** a client of a Registry through its NodePort on this machine, trusting its CA, as one of its users (default: admin) */
export async function nodePortClient(namespace: string, name: string, nodePort: number, user = 'admin'): Promise<Client> {
  const password = await secretText(namespace, `${name}-user-${user}`, 'password');
  const caPem = await secretText(namespace, `${name}-ca`, 'ca.crt');
  return clientFor({ url: `https://127.0.0.1:${nodePort}`, caPem } as RunningRegistry, { name: user, password });
}
