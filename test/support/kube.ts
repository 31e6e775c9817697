// kubectl for end-to-end tests, against the cluster in KUBECONFIG (default: the local cluster from
// `npm run cluster:up`), with bounded waits and diagnostics that say what was seen when a wait fails.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const cache = process.env.REGOP_CACHE ?? join(homedir(), '.cache', 'regop');
export const KUBECONFIG = process.env.KUBECONFIG ?? join(cache, 'cluster', 'admin.kubeconfig');
/** the image under test: built by test/image/build.sh (or the Dockerfile + kind load) */
export const IMAGE = process.env.REGOP_IMAGE ?? 'regop:dev';

function kubectlBinary(): string {
  const local = join(cache, 'k8s-v1.33.13', 'bin', 'kubectl');
  return existsSync(local) ? local : 'kubectl';
}

export interface KubectlResult { code: number; stdout: string; stderr: string }

export function kubectl(args: string[], options: { input?: string; allowFailure?: boolean; timeoutMs?: number } = {}): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(kubectlBinary(), ['--kubeconfig', KUBECONFIG, ...args], {
      timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024,
    }, (error, stdout, stderr) => {
      const code = error ? ((error as { code?: number }).code ?? 1) : 0;
      if (code !== 0 && !options.allowFailure) {
        reject(new Error(`kubectl ${args.join(' ')} failed (${code}):\n${stderr}${stdout}`));
      } else {
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      }
    });
    // kubectl may exit without reading its input (EPIPE): its exit code tells what happened
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input ?? '');
  });
}

export async function apply(yaml: string, namespace?: string): Promise<void> {
  await kubectl([...(namespace ? ['-n', namespace] : []), 'apply', '-f', '-'], { input: yaml });
}

export async function getJson<T = any>(args: string[]): Promise<T | null> {
  const result = await kubectl([...args, '-o', 'json'], { allowFailure: true });
  // --ignore-not-found prints nothing for an object that is not there
  return result.code === 0 && result.stdout.trim() !== '' ? (JSON.parse(result.stdout) as T) : null;
}

export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(['create', 'namespace', name]);
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  await kubectl(['delete', 'namespace', name, '--wait=false'], { allowFailure: true });
}

/** A file as a running registry pod sees it, e.g. in a Secret volume the kubelet updates (the image has node, not cat). */
export async function podFile(namespace: string, pod: string, path: string): Promise<string> {
  const script = `process.stdout.write(require('fs').readFileSync(${JSON.stringify(path)}))`;
  return (await kubectl(['-n', namespace, 'exec', pod, '--', 'node', '-e', script])).stdout;
}

/** The one live pod of a Registry: name, uid and container restarts, to tell whether it was replaced or restarted. */
export async function registryPod(namespace: string, registry: string): Promise<{ name: string; uid: string; restarts: number }> {
  const pods = ((await getJson(['-n', namespace, 'get', 'pods', '-l', `app.kubernetes.io/instance=${registry}`]))?.items ?? [])
    .filter((pod: any) => !pod.metadata.deletionTimestamp);
  if (pods.length !== 1) throw new Error(`expected one pod of Registry ${registry}, saw ${pods.map((p: any) => p.metadata.name).join(', ') || 'none'}`);
  const pod = pods[0];
  return { name: pod.metadata.name, uid: pod.metadata.uid, restarts: pod.status?.containerStatuses?.[0]?.restartCount ?? 0 };
}

/** What a person would look at when something did not become ready: objects, events, pod logs. */
export async function diagnostics(namespace: string): Promise<string> {
  const parts: string[] = [];
  const get = await kubectl(['-n', namespace, 'get', 'all,pvc,registries,retentionpolicies', '-o', 'wide'], { allowFailure: true });
  parts.push(`--- objects in ${namespace}\n${get.stdout}${get.stderr}`);
  const events = await kubectl(['-n', namespace, 'get', 'events', '--sort-by=.lastTimestamp'], { allowFailure: true });
  parts.push(`--- events\n${events.stdout.split('\n').slice(-40).join('\n')}`);
  const pods = await getJson<{ items: Array<{ metadata: { name: string } }> }>(['-n', namespace, 'get', 'pods']);
  for (const pod of pods?.items ?? []) {
    const logs = await kubectl(['-n', namespace, 'logs', pod.metadata.name, '--all-containers', '--tail=40'], { allowFailure: true });
    parts.push(`--- logs of ${pod.metadata.name}\n${logs.stdout}${logs.stderr}`);
  }
  return parts.join('\n');
}

/** Polls `check` until it returns a value, for at most `timeoutMs`; on timeout throws with `describe()`. */
export async function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs: number, describe?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const seen = describe ? await describe() : '';
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}\n${seen}`);
}
