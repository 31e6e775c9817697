// The operator's figures for `npm run bench`, on a real cluster: how long one Registry takes from `kubectl apply`
// to Ready, how long the operator takes to work through many applied at once, and its memory meanwhile.
// ensureCluster and teardownCluster let run.ts bring the local cluster up only when none is there, and take down
// only what it brought up. This is a benchmark: a bound that is hit gives NaN and a note, never a failure.
import { execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Metric } from './scenarios.ts';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, IMAGE, KUBECONFIG, kubectl, waitFor } from '../support/kube.ts';
import { installOperator, OPERATOR_NAMESPACE, RELEASE } from '../support/operator.ts';
import { CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';

type Log = (line: string) => void;

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCENARIO = 'operator';
const READY_RUNS = 3;
/**
 * How often the operator's RSS is read. The bench reads it, and follows the Registries, inside its own process
 * (a watch, a request through the API server's proxy): a kubectl process costs 0.2 s of CPU, and the four a second
 * the bench once started took 40% of this 2-core machine away from the operator and the API server it measured.
 */
const POLL_MS = 500;
const MiB = 1024 * 1024;
const MINUTE = 60_000;

// ---- the local cluster

/**
 * Makes sure a cluster with the image under test is there. A KUBECONFIG is used as it is (the image must already
 * be loaded there, e.g. by `kind load`); otherwise the local cluster is brought up if it is not healthy, and the
 * image is built into it, as test/run.sh does.
 */
export async function ensureCluster(log: Log): Promise<{ startedHere: boolean }> {
  if (process.env.KUBECONFIG) {
    log(`  operator: using the cluster of ${process.env.KUBECONFIG} (${IMAGE} must be available there)`);
    return { startedHere: false };
  }
  const startedHere = !(await localClusterHealthy());
  try {
    if (startedHere) {
      log('  operator: bringing up the local cluster (test/cluster/up.sh)');
      await runScript('test/cluster/up.sh', log, 60 * MINUTE);
    }
    log('  operator: building the image into the cluster (test/image/build.sh)');
    await runScript('test/image/build.sh', log, 20 * MINUTE);
  } catch (error) {
    // the caller never learns that this run started the cluster, so it could not take it down
    if (startedHere) await teardownCluster(log).catch(() => {});
    throw error;
  }
  return { startedHere };
}

export async function teardownCluster(log: Log = () => {}): Promise<void> {
  log('  operator: taking the local cluster down (test/cluster/down.sh)');
  await runScript('test/cluster/down.sh', log, 10 * MINUTE);
}

function localClusterHealthy(): Promise<boolean> {
  // cluster_healthy asks kubectl whether the node is Ready: the cluster's own kubectl, as up.sh uses
  const check = 'source test/cluster/versions.sh && export PATH="$K8S_BIN:$PATH" && source test/cluster/processes.sh && cluster_healthy';
  return new Promise((resolve) => {
    execFile('bash', ['-c', check], { cwd: projectRoot, timeout: MINUTE }, (error) => resolve(!error));
  });
}

/** Runs a project script, its output going to the log line by line (a cold cluster build takes many minutes). */
function runScript(script: string, log: Log, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // in the bench's process group, so that a Ctrl-C stops the script and its builds too
    const child = spawn('bash', [script], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => log(`      ${line}`));
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`bash ${script} ${timedOut ? `was stopped after ${timeoutMs / 1000}s` : `exited ${code}`}`));
    });
  });
}

// ---- the scenario

export async function operatorScenario(log: Log, options: { registries: number; timeoutSeconds: number }): Promise<Metric[]> {
  const timeoutMs = options.timeoutSeconds * 1000;
  log('  operator: helm upgrade --install, then a fresh operator process');
  await installOperator();
  await restartOperator(timeoutMs);
  const operator = await leaderPod(timeoutMs);
  log(`    operator pod ${operator.name} leads; metrics on port ${operator.port}`);

  const namespaces: string[] = [];
  try {
    const readyNamespace = await createNamespace('bench-ready');
    namespaces.push(readyNamespace);
    const metrics = [await applyToReady(readyNamespace, log, timeoutMs)];
    // the many Registries below should find a quiet cluster, not three registries still being deleted
    await removeNamespaces(namespaces.splice(0), log, timeoutMs);

    metrics.push(await idleRss(operator));
    const manyNamespace = await createNamespace('bench-many');
    namespaces.push(manyNamespace);
    const sampler = sampleRss(operator, 2 * timeoutMs);
    try {
      metrics.push(...await reconcileMany(manyNamespace, options.registries, log, timeoutMs));
    } finally {
      const samples = await sampler.stop();
      metrics.push(rssMetric(`RSS peak, reconcile ${options.registries}`, Math.max(...samples.values), samples));
    }
    metrics.push(await registryPods(manyNamespace, options.registries));
    return metrics;
  } finally {
    await removeNamespaces(namespaces, log, timeoutMs);
  }
}

/** A small Registry with the defaults a user gets: SelfSigned TLS, one user with a generated password. */
function registryYaml(name: string): string {
  return `apiVersion: regop.dev/v1alpha1
kind: Registry
metadata: { name: ${name} }
spec:
  storage: { size: 1Gi }
  auth:
    users:
      - name: admin
`;
}

async function applyToReady(namespace: string, log: Log, timeoutMs: number): Promise<Metric> {
  const metric = { scenario: SCENARIO, metric: 'apply→Ready', unit: 's', better: 'lower' } as const;
  const seconds: number[] = [];
  for (let run = 1; run <= READY_RUNS; run++) {
    const name = `ready-${run}`;
    const started = performance.now();
    const startedAt = Date.now();
    await apply(registryYaml(name), namespace);
    if (!(await waitForReady(namespace, [`registry/${name}`], started + timeoutMs))) {
      log(`    apply→Ready run ${run}: not Ready within ${timeoutMs / 1000}s\n${await diagnostics(namespace)}`);
      const before = seconds.length > 0 ? `; earlier runs ${formatSeconds(seconds)}` : '';
      return { ...metric, value: NaN, note: `run ${run} not Ready within ${timeoutMs / 1000}s${before}` };
    }
    seconds.push(secondsSince(started));
    log(`    apply→Ready run ${run}: ${seconds.at(-1)!.toFixed(1)}s (${await readyTimeline(namespace, startedAt, name)})`);
  }
  return { ...metric, value: median(seconds), note: `median of ${formatSeconds(seconds)}` };
}

/**
 * Where apply→Ready went, from the objects' own timestamps (whole seconds, so each step is ±1 s): when the operator
 * had created the Deployments, when the claims' volumes were provisioned (local-path runs a helper pod for each),
 * when the registry pods were scheduled, their containers started and they turned Ready, and when the operator
 * reported the Registries Ready. For one Registry the seconds of each step; for many, the median and the last.
 */
async function readyTimeline(namespace: string, startedAt: number, only?: string): Promise<string> {
  type Conditions = { conditions?: Array<{ type: string; lastTransitionTime?: string }> };
  type Listed<T> = { items: Array<T & { metadata: { name: string; creationTimestamp?: string; labels?: Record<string, string> } }> };
  const list = async <T>(kind: string, all = false) =>
    (await getJson<Listed<T>>(all ? ['get', kind] : ['-n', namespace, 'get', kind]))?.items ?? [];
  // one Registry's objects: its name, its claim `<name>-data`, its pods' instance label
  const belongs = (object: { metadata: { name: string; labels?: Record<string, string> } }) => only === undefined
    || [only, `${only}-data`].includes(object.metadata.name) || object.metadata.labels?.['app.kubernetes.io/instance'] === only;
  const seconds = (time: string | undefined) => (time ? Math.max(0, (Date.parse(time) - startedAt) / 1000) : NaN);
  const condition = (status: Conditions | undefined, type: string) => status?.conditions?.find((c) => c.type === type)?.lastTransitionTime;
  const claims = (await list<{ spec?: { volumeName?: string } }>('pvc')).filter(belongs);
  const volumeNames = new Set(claims.map((claim) => claim.spec?.volumeName));
  const volumes = (await list<object>('pv', true)).filter((volume) => volumeNames.has(volume.metadata.name));
  const pods = (await list<{ status?: Conditions & { containerStatuses?: Array<{ state?: { running?: { startedAt?: string } } }> } }>('pods'))
    .filter((pod) => pod.metadata.labels?.['app.kubernetes.io/name'] === 'regop-registry' && belongs(pod));
  const steps: Array<[string, number[]]> = [
    ['Deployment', (await list<object>('deployments')).filter(belongs).map((d) => seconds(d.metadata.creationTimestamp))],
    ['volume', volumes.map((v) => seconds(v.metadata.creationTimestamp))],
    ['pod scheduled', pods.map((p) => seconds(condition(p.status, 'PodScheduled')))],
    ['started', pods.map((p) => seconds(p.status?.containerStatuses?.[0]?.state?.running?.startedAt))],
    ['pod Ready', pods.map((p) => seconds(condition(p.status, 'Ready')))],
    ['Registry Ready', (await list<{ status?: Conditions }>('registries')).filter(belongs).map((r) => seconds(condition(r.status, 'Ready')))],
  ];
  return steps.map(([step, values]) => {
    const known = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
    if (known.length === 0) return `${step} ?`;
    if (known.length === 1) return `${step} ${known[0]!.toFixed(0)}s`;
    return `${step} ${median(known).toFixed(0)}/${known.at(-1)!.toFixed(0)}s`;
  }).join(', ');
}

/**
 * Applies `count` Registries in one `kubectl apply` and times, from the start of that apply, when the operator
 * has reconciled every one (status caught up with the spec, Deployment created) and when every one is Ready.
 */
async function reconcileMany(namespace: string, count: number, log: Log, timeoutMs: number): Promise<Metric[]> {
  const names = Array.from({ length: count }, (_, i) => `many-${i + 1}`);
  const started = performance.now();
  const startedAt = Date.now();
  const deadline = started + timeoutMs;
  const progress = await watchReconciled(namespace, count, started);
  await apply(names.map(registryYaml).join('---\n'), namespace);
  const applySeconds = secondsSince(started);
  log(`    reconcile ${count}: kubectl apply took ${applySeconds.toFixed(1)}s`);

  const [reconciled, ready] = await Promise.all([
    progress.reconciled(deadline),
    waitForReady(namespace, ['registries', '--all'], deadline).then((allReady) => ({ allReady, seconds: secondsSince(started) })),
  ]);
  log(`    reconcile ${count}: ${reconciled.done}/${count} reconciled${Number.isNaN(reconciled.seconds) ? '' : ` after ${reconciled.seconds.toFixed(1)}s`}`);
  const readyCount = ready.allReady ? count : await countReady(namespace);
  log(`    reconcile ${count}: ${readyCount}/${count} Ready${ready.allReady ? ` after ${ready.seconds.toFixed(1)}s` : ''}`);
  log(`    reconcile ${count}, median/last: ${await readyTimeline(namespace, startedAt)}`);

  const bound = `within ${timeoutMs / 1000}s`;
  return [
    {
      scenario: SCENARIO, metric: `reconcile ${count}: all reconciled`, unit: 's', better: 'lower', value: reconciled.seconds,
      note: reconciled.done === count ? `kubectl apply took ${applySeconds.toFixed(1)}s` : `${reconciled.done}/${count} reconciled ${bound}`,
    },
    {
      scenario: SCENARIO, metric: `reconcile ${count}: all Ready`, unit: 's', better: 'lower',
      value: ready.allReady ? ready.seconds : NaN, note: ready.allReady ? undefined : `${readyCount}/${count} Ready ${bound}`,
    },
  ];
}

/** `kubectl wait` watches rather than polls, so it returns as soon as the last Ready condition turns True. */
async function waitForReady(namespace: string, what: string[], deadline: number): Promise<boolean> {
  const seconds = Math.max(1, Math.ceil((deadline - performance.now()) / 1000));
  const result = await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', ...what, `--timeout=${seconds}s`],
    { allowFailure: true, timeoutMs: seconds * 1000 + 30_000 });
  return result.code === 0;
}

interface KubeObject {
  kind: string;
  metadata: { name: string; generation?: number; deletionTimestamp?: string };
  status?: {
    observedGeneration?: number;
    conditions?: Array<{ type: string; status: string }>;
    phase?: string;
    containerStatuses?: Array<{ ready: boolean }>;
  };
}

/**
 * Follows the Registries and Deployments in `namespace` through one watch each (there is no condition to wait on):
 * `reconciled` resolves once every Registry's status has caught up with its spec and its Deployment exists, with
 * the seconds since `started`, or NaN and how many were if `deadline` comes first.
 */
async function watchReconciled(namespace: string, count: number, started: number): Promise<{
  reconciled(deadline: number): Promise<{ seconds: number; done: number }>;
}> {
  const watch = new Watch(kubeConfig());
  const registries = new Map<string, KubeObject>();
  const deployments = new Set<string>();
  let finished: (() => void) | undefined;
  let doneAt = NaN;
  const countDone = () => [...registries.values()].filter((o) => o.status?.observedGeneration === o.metadata.generation
    && deployments.has(o.metadata.name)).length;
  const changed = () => {
    if (Number.isNaN(doneAt) && countDone() >= count) {
      doneAt = secondsSince(started);
      finished?.();
    }
  };
  const follow = (path: string, onObject: (type: string, object: KubeObject) => void) => watch.watch(path, {},
    (type, object: KubeObject) => { onObject(type, object); changed(); },
    () => { /* ends with the bench's abort, or the deadline decides */ });
  const watches = await Promise.all([
    follow(`/apis/regop.dev/v1alpha1/namespaces/${namespace}/registries`, (type, o) => {
      if (type === 'DELETED') registries.delete(o.metadata.name);
      else registries.set(o.metadata.name, o);
    }),
    follow(`/apis/apps/v1/namespaces/${namespace}/deployments`, (type, o) => {
      if (type === 'DELETED') deployments.delete(o.metadata.name);
      else deployments.add(o.metadata.name);
    }),
  ]);
  return {
    async reconciled(deadline) {
      if (Number.isNaN(doneAt)) {
        await new Promise<void>((resolve) => {
          finished = resolve;
          setTimeout(resolve, Math.max(0, deadline - performance.now())).unref();
        });
      }
      for (const request of watches) request.abort();
      return { seconds: doneAt, done: countDone() };
    },
  };
}

let loadedKubeConfig: KubeConfig | undefined;
function kubeConfig(): KubeConfig {
  if (!loadedKubeConfig) {
    loadedKubeConfig = new KubeConfig();
    loadedKubeConfig.loadFromFile(KUBECONFIG);
  }
  return loadedKubeConfig;
}

async function countReady(namespace: string): Promise<number> {
  const list = await getJson<{ items: KubeObject[] }>(['-n', namespace, 'get', 'registries.regop.dev']);
  return (list?.items ?? []).filter((o) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
}

async function registryPods(namespace: string, registries: number): Promise<Metric> {
  const list = await getJson<{ items: KubeObject[] }>(['-n', namespace, 'get', 'pods', '-l', 'app.kubernetes.io/name=regop-registry']);
  const pods = list?.items ?? [];
  const ready = pods.filter((p) => p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((c) => c.ready)).length;
  return {
    scenario: SCENARIO, metric: `reconcile ${registries}: registry pods ready`, unit: 'pods', better: 'higher', value: list ? ready : NaN,
    note: list ? `${pods.length} registry pods for ${registries} Registries` : 'could not list the pods',
  };
}

// ---- the operator's memory

interface OperatorPod { name: string; port: number }

/**
 * A fresh operator process: the image build.sh just imported does not replace the one a running pod uses, and
 * the idle RSS should not depend on what the operator did before this run.
 */
async function restartOperator(timeoutMs: number): Promise<void> {
  const deployment = `deployment/${RELEASE}`;
  await kubectl(['-n', OPERATOR_NAMESPACE, 'rollout', 'restart', deployment]);
  await kubectl(['-n', OPERATOR_NAMESPACE, 'rollout', 'status', deployment, `--timeout=${Math.ceil(timeoutMs / 1000)}s`],
    { timeoutMs: timeoutMs + 30_000 });
}

/** The pod holding the leader Lease (only it reconciles), once it runs; with its metrics port. */
function leaderPod(timeoutMs: number): Promise<OperatorPod> {
  return waitFor('an operator pod to hold the leader Lease', async () => {
    const lease = await getJson<{ spec?: { holderIdentity?: string } }>(['-n', OPERATOR_NAMESPACE, 'get', 'lease', RELEASE]);
    const holder = lease?.spec?.holderIdentity;
    if (!holder) return null;
    const pod = await getJson<{ metadata: { deletionTimestamp?: string }; status?: { phase?: string };
      spec: { containers: Array<{ ports?: Array<{ name?: string; containerPort: number }> }> } }>(['-n', OPERATOR_NAMESPACE, 'get', 'pod', holder]);
    if (!pod || pod.metadata.deletionTimestamp || pod.status?.phase !== 'Running') return null;
    const port = pod.spec.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === 'health')?.containerPort;
    return port ? { name: holder, port } : null;
  }, timeoutMs, () => diagnostics(OPERATOR_NAMESPACE));
}

/** prom-client's process_resident_memory_bytes, read through the API server's proxy to the pod's health port. */
async function operatorRssMiB(operator: OperatorPod): Promise<number | null> {
  try {
    const text = await kubeConfig().makeApiClient(CoreV1Api).connectGetNamespacedPodProxyWithPath({
      namespace: OPERATOR_NAMESPACE, name: `${operator.name}:${operator.port}`, path: 'metrics',
    });
    const match = /^process_resident_memory_bytes (\S+)$/m.exec(String(text));
    return match ? Number(match[1]) / MiB : null;
  } catch {
    return null;
  }
}

interface RssSamples { values: number[]; failures: number }

async function idleRss(operator: OperatorPod): Promise<Metric> {
  const samples: RssSamples = { values: [], failures: 0 };
  for (let i = 0; i < 3; i++) {
    const rss = await operatorRssMiB(operator);
    if (rss === null) samples.failures++;
    else samples.values.push(rss);
    await sleep(POLL_MS);
  }
  return rssMetric('RSS idle', median(samples.values), samples);
}

/** Samples the operator's RSS every POLL_MS until stopped or `limitMs` has passed. */
function sampleRss(operator: OperatorPod, limitMs: number): { stop(): Promise<RssSamples> } {
  const samples: RssSamples = { values: [], failures: 0 };
  let stopped = false;
  const sampling = (async () => {
    const deadline = performance.now() + limitMs;
    for (let i = 0; !stopped && i < limitMs / POLL_MS && performance.now() < deadline; i++) {
      const sampleStarted = performance.now();
      const rss = await operatorRssMiB(operator);
      if (rss === null) samples.failures++;
      else samples.values.push(rss);
      await sleep(Math.max(0, POLL_MS - (performance.now() - sampleStarted)));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await sampling;
      return samples;
    },
  };
}

function rssMetric(name: string, value: number, samples: RssSamples): Metric {
  const failed = samples.failures > 0 ? `, ${samples.failures} failed` : '';
  return {
    scenario: SCENARIO, metric: name, unit: 'MiB', better: 'lower',
    value: samples.values.length > 0 ? value : NaN, note: `${samples.values.length} samples${failed}`,
  };
}

// ---- cleanup and small helpers

/** Deletes the namespaces and waits (bounded) until they are gone, so that the next run starts clean. */
async function removeNamespaces(namespaces: string[], log: Log, timeoutMs: number): Promise<void> {
  if (namespaces.length === 0) return;
  const started = performance.now();
  await Promise.all(namespaces.map((name) => deleteNamespace(name)));
  try {
    await waitFor(`namespaces ${namespaces.join(', ')} to be gone`, async () => {
      const left = await Promise.all(namespaces.map((name) => kubectl(['get', 'namespace', name], { allowFailure: true })));
      return left.every((result) => result.code !== 0 && /NotFound/.test(result.stderr));
    }, timeoutMs);
    log(`    deleted ${namespaces.join(', ')} in ${secondsSince(started).toFixed(1)}s`);
  } catch (error) {
    log(`    cleanup: ${(error as Error).message.split('\n')[0]}`);
  }
}

function secondsSince(started: number): number {
  return (performance.now() - started) / 1000;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function formatSeconds(values: number[]): string {
  return `${values.map((v) => v.toFixed(1)).join(', ')} s`;
}
