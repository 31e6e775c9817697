// An in-memory ClusterClient for controller unit tests: stores what is applied, answers gets and lists, and
// records status patches. Secrets' stringData is folded into data as the API server does.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClusterClient, ObjectKey } from './cluster-client.ts';

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

  async apply<T extends KubernetesObject>(manifest: T): Promise<T> {
    if (this.missingKinds.has(manifest.kind!)) throw Object.assign(new Error('not found'), { code: 404 });
    this.applyCount++;
    return this.put(manifest);
  }

  async delete(key: ObjectKey): Promise<void> {
    this.objects.delete(id(key));
  }

  async patchStatus(key: ObjectKey, status: unknown): Promise<void> {
    const object = this.objects.get(id(key)) as (KubernetesObject & { status?: unknown }) | undefined;
    if (!object) throw Object.assign(new Error('not found'), { code: 404 });
    object.status = structuredClone(JSON.parse(JSON.stringify(status)));
    this.statusPatches.push(status);
  }

  async annotate(key: ObjectKey, annotations: Record<string, string>): Promise<void> {
    const object = this.objects.get(id(key));
    if (!object) return;
    this.annotations.push({ key, annotations });
    object.metadata = { ...object.metadata, annotations: { ...object.metadata?.annotations, ...annotations } };
  }

  async setFinalizers(key: ObjectKey, finalizers: string[]): Promise<void> {
    const object = this.objects.get(id(key));
    if (!object) throw Object.assign(new Error('not found'), { code: 404 });
    object.metadata = { ...object.metadata, finalizers };
    if (finalizers.length === 0 && object.metadata.deletionTimestamp) this.objects.delete(id(key));
  }
}
