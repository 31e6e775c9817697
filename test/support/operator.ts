// Installs (or upgrades) the chart with the image under test, as an admin would, for the e2e suites.
import { IMAGE, KUBECONFIG } from './kube.ts';
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
