// The base every kind's reconciler stands on: its dependencies (dependencies.ts), the status written only when it
// differs from the stored one, and a finalizer added or removed in one place. A reconcile returns the runtime's
// ReconcileResult: done, or requeue after a delay; an error retries with backoff.
import type { V1Condition, V1ObjectMeta } from '@kubernetes/client-node';
import type { ObjectKey } from '../kube/cluster-client.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import { sameStatus, setCondition, type ConditionUpdate } from '../status/conditions.ts';
import { KindReconciler, type ControllerDependencies } from './dependencies.ts';

export type { ReconcileResult };

/** what a kind's status holds at least (metav1.Condition conventions) */
export interface ConditionedStatus {
  observedGeneration?: number;
  conditions?: V1Condition[];
}

/** a namespaced custom resource with a status subresource */
export interface Resource<S extends ConditionedStatus> {
  metadata: V1ObjectMeta & { name: string; namespace: string };
  status?: S;
}

export abstract class Reconciler<R extends Resource<S>, S extends ConditionedStatus> extends KindReconciler {
  private readonly type: { apiVersion: string; kind: string };

  constructor(dependencies: ControllerDependencies, type: { apiVersion: string; kind: string }) {
    super(dependencies);
    this.type = type;
  }

  protected objectKey(namespace: string, name: string): ObjectKey {
    return { ...this.type, namespace, name };
  }

  /**
   * Sets the given fields and conditions over the stored status (lastTransitionTime moves only when a condition's
   * status changes; observedGeneration is stamped) and writes it only when the result differs from what is stored.
   * `removed`: fields that no longer apply; a merge patch keeps what it does not name, so they are sent as null.
   * @returns whether a patch was sent
   */
  protected async writeStatus(object: R, fields: Partial<S>, updates: ConditionUpdate[], removed: Array<keyof S> = []): Promise<boolean> {
    const now = this.now();
    let conditions = object.status?.conditions;
    for (const update of updates) conditions = setCondition(conditions, update, object.metadata.generation, now);
    const next = {
      ...object.status,
      ...fields,
      observedGeneration: object.metadata.generation ?? 0,
      conditions: conditions ?? [],
    } as S;
    for (const field of removed) delete next[field];
    if (sameStatus(next, object.status)) return false;
    const patch = removed.length > 0 ? { ...next, ...Object.fromEntries(removed.map((field) => [field, null])) } : next;
    await this.client.patchStatus(this.objectKey(object.metadata.namespace, object.metadata.name), patch);
    return true;
  }

  /**
   * Adds `finalizer` when wanted, removes it when not (or when the object is being deleted), running `cleanup`
   * (what the finalizer guards) before the removal. The write is guarded by the object's resourceVersion: a stale
   * read fails with a conflict and the reconcile is retried.
   */
  protected async keepFinalizer(object: R, finalizer: string, wanted: boolean, cleanup: () => Promise<void>): Promise<void> {
    const finalizers = object.metadata.finalizers ?? [];
    const keep = wanted && !object.metadata.deletionTimestamp;
    if (keep === finalizers.includes(finalizer)) return;
    if (!keep) await cleanup();
    await this.client.setFinalizers(
      this.objectKey(object.metadata.namespace, object.metadata.name),
      keep ? [...finalizers, finalizer] : finalizers.filter((f) => f !== finalizer),
      object.metadata.resourceVersion,
    );
  }
}
