// An in-memory ClusterClient for controller unit tests: stores what is applied, answers gets and lists, and
// records status patches. Secrets' stringData is folded into data as the API server does.
import type { KubernetesObject } from '@kubernetes/client-node';
import { keyOf, type ApplyOptions, type ClusterClient, type ObjectKey } from './cluster-client.ts';

function id(key: ObjectKey): string {
  return `${key.apiVersion}/${key.kind}/${key.namespace ?? ''}/${key.name}`;
}

function matchesSelector(object: KubernetesObject, selector: string): boolean {
  return selector.split(',').filter(Boolean).every((term) => {
    const [label, value] = term.split('=') as [string, string];
    return object.metadata?.labels?.[label] === value;
  });
}

export class FakeClusterClient implements ClusterClient {
  readonly objects = new Map<string, KubernetesObject>();
  readonly statusPatches: unknown[] = [];
  readonly annotations: Array<{ key: ObjectKey; annotations: Record<string, string> }> = [];
  applyCount = 0;
  /** every apply, in order, with the field manager it names (undefined: the operator's) */
  readonly applied: Array<{ manifest: KubernetesObject; fieldManager: string | undefined }> = [];
  private version = 1;
  /** kinds whose apply fails with 404, as when a CRD is not installed */
  readonly missingKinds = new Set<string>();

  put<T extends KubernetesObject>(object: T): T {
    const stored = structuredClone(object) as T & { stringData?: Record<string, string>; data?: Record<string, string> };
    if (stored.kind === 'Secret' && stored.stringData) {
      stored.data = { ...stored.data };
      for (const [k, v] of Object.entries(stored.stringData)) stored.data[k] = Buffer.from(v).toString('base64');
      delete stored.stringData;
    }
    stored.metadata = { ...stored.metadata, resourceVersion: String(this.version++) };
    const key = { apiVersion: stored.apiVersion!, kind: stored.kind!, name: stored.metadata!.name!, namespace: stored.metadata?.namespace };
    const previous = this.objects.get(id(key as ObjectKey)) as (T & { status?: unknown }) | undefined;
    if (previous?.status && !(stored as { status?: unknown }).status) (stored as { status?: unknown }).status = previous.status;
    this.objects.set(id(key as ObjectKey), stored);
    return structuredClone(stored);
  }

  async get<T extends KubernetesObject>(key: ObjectKey): Promise<T | null> {
    const found = this.objects.get(id(key));
    return found ? (structuredClone(found) as T) : null;
  }

  async list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string | undefined, labelSelector: string): Promise<T[]> {
    return [...this.objects.values()]
      .filter((o) => o.apiVersion === apiVersion && o.kind === kind)
      .filter((o) => namespace === undefined || o.metadata?.namespace === namespace)
      .filter((o) => matchesSelector(o, labelSelector))
      .map((o) => structuredClone(o) as T);
  }

  async apply<T extends KubernetesObject>(manifest: T, options: ApplyOptions = {}): Promise<T> {
    if (this.missingKinds.has(manifest.kind!)) throw Object.assign(new Error('not found'), { code: 404 });
    this.applyCount++;
    this.applied.push({ manifest: structuredClone(manifest), fieldManager: options.fieldManager });
    return this.put(this.keepingReplicas(manifest));
  }

  /**
   * A Deployment applied without spec.replicas keeps the stored count, as the API server does when another
   * manager (an autoscaler) owns the field. Other omitted fields are dropped: applies replace here.
   */
  private keepingReplicas<T extends KubernetesObject>(manifest: T): T {
    const stored = this.objects.get(id(keyOf(manifest))) as { spec?: { replicas?: number } } | undefined;
    const spec = (manifest as { spec?: { replicas?: number } }).spec;
    if (manifest.kind !== 'Deployment' || !spec || spec.replicas !== undefined || stored?.spec?.replicas === undefined) return manifest;
    return { ...manifest, spec: { ...spec, replicas: stored.spec.replicas } };
  }

  async delete(key: ObjectKey): Promise<void> {
    this.objects.delete(id(key));
  }

  async patchStatus(key: ObjectKey, status: unknown): Promise<KubernetesObject> {
    const object = this.objects.get(id(key)) as (KubernetesObject & { status?: unknown }) | undefined;
    if (!object) throw Object.assign(new Error('not found'), { code: 404 });
    // a merge patch: a field sent as null is removed
    const written = structuredClone(JSON.parse(JSON.stringify(status))) as Record<string, unknown>;
    object.status = Object.fromEntries(Object.entries(written).filter(([, value]) => value !== null));
    this.statusPatches.push(status);
    object.metadata = { ...object.metadata, resourceVersion: String(this.version++) };
    return structuredClone(object);
  }

  async annotate(key: ObjectKey, annotations: Record<string, string>): Promise<void> {
    const object = this.objects.get(id(key));
    if (!object) return;
    this.annotations.push({ key, annotations });
    object.metadata = { ...object.metadata, annotations: { ...object.metadata?.annotations, ...annotations } };
  }

  async setFinalizers(key: ObjectKey, finalizers: string[]): Promise<KubernetesObject> {
    const object = this.objects.get(id(key));
    if (!object) throw Object.assign(new Error('not found'), { code: 404 });
    object.metadata = { ...object.metadata, finalizers, resourceVersion: String(this.version++) };
    if (finalizers.length === 0 && object.metadata.deletionTimestamp) this.objects.delete(id(key));
    return structuredClone(object);
  }
}
