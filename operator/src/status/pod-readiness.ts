// Why registry pods are not ready, in the registry's own words. A pod that runs but fails its readiness probe
// explains itself in the body of /readyz on its ops port: a verdict line, then one line per cause (a bucket it
// cannot reach, for one). The kubelet keeps only the status code of a failed probe, so the operator asks the pod.
import type { V1Pod } from '@kubernetes/client-node';

/** a pod's /readyz answer: its HTTP status and body */
export interface ReadinessAnswer {
  status: number;
  body: string;
}

export interface UnreadyPod {
  pod: string;
  causes: string[];
}

/**
 * Pods worth asking anything: running, with an address, not on their way out, and past their startup probe
 * (`started`), so the registry listens. Before that a request only waits for its timeout: with 50 Registries
 * starting at once that was seconds of every reconcile.
 */
export function podsThatAnswer(pods: V1Pod[]): Array<{ name: string; ip: string }> {
  return pods
    .filter((pod) => pod.status?.phase === 'Running' && pod.status.podIP && !pod.metadata?.deletionTimestamp)
    .filter((pod) => (pod.status?.containerStatuses ?? []).every((container) => container.started !== false))
    .map((pod) => ({ name: pod.metadata!.name!, ip: pod.status!.podIP! }));
}

/** pods that answer yet fail their readiness probe: the ones worth asking why */
export function unreadyPods(pods: V1Pod[]): Array<{ name: string; ip: string }> {
  return podsThatAnswer(pods.filter((pod) => pod.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True'));
}

/** the causes a not-ready answer names (the lines after its verdict); none when ready or merely starting */
export function readinessCauses(answer: ReadinessAnswer): string[] {
  if (answer.status >= 200 && answer.status < 300) return [];
  return answer.body.split('\n').map((line) => line.trim()).filter(Boolean).slice(1);
}

const MAX_MESSAGE = 1000;

/** One sentence for the Degraded condition and its Event: each pod and what it says. */
export function describeUnreadyPods(unready: UnreadyPod[]): string {
  const message = `registry pods are not ready: ${unready.map((u) => `pod ${u.pod}: ${u.causes.join('; ')}`).join('; ')}`;
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}
