// metav1.Condition bookkeeping: lastTransitionTime moves only when the status changes, observedGeneration is
// always stamped, and a status is written only when something differs.
import type { V1Condition } from '@kubernetes/client-node';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export function setCondition(
  conditions: V1Condition[] | undefined, update: ConditionUpdate, generation: number | undefined, now: Date,
): V1Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((condition) => condition.type === update.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: V1Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message: update.message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    lastTransitionTime: previous && previous.status === update.status ? previous.lastTransitionTime : now,
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function findCondition(conditions: V1Condition[] | undefined, type: string): V1Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}

function normalize(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, normalize(v)]),
    );
  }
  return value;
}

/** Deep equality of two status objects as the API server would store them (dates as strings, no undefineds). */
export function sameStatus(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}
