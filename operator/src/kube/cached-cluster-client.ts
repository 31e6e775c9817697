// A ClusterClient that reads through the informers' caches, as controller-runtime's client does: a get or a list
// of a kind with a started, synced informer is answered from memory; every write goes to the API server (server-
// side apply, merge patches, deletes) through the live client it wraps.
//
// An informer may hold only part of a kind (regop's children, by label selector). A get it cannot answer (not in a
// partial cache: a user's Secret, or an object not made yet) and a list whose selector does not narrow the
// informer's read the API server; except a get of an object the operator makes and labels itself (`operatorMade`),
// which the partial cache answers "not there" too: a new Registry's first pass asked for seven such children, one
// after another, each a round trip to a busy API server to learn what the cache already said. Kinds with no
// informer (Pods, Namespaces, DaemonSets, ...) are always live.
//
// Read-your-writes: after the operator writes an object, its informer shows the change a moment later. Until the
// cache's copy of that object has moved on from the version it held at the write, reads of it (and lists of its
// kind) go to the API server, so a reconcile never compares against an object older than its own last write (a
// status written twice, a certificate issued twice, a copy a finalizer did not see). A write that changed nothing
// (the same resourceVersion back) leaves the cache trusted.
//
// Deletes: a reconcile deletes every child it does not want on every pass. One the synced cache does not hold is
// not sent; for a kind with no informer (budgets, autoscalers: RBAC grants no list), one this client already
// deleted and has not applied since is not sent again (only the operator makes those children).
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { realClock, type Clock } from '../runtime/work-queue.ts';
import { keyOf, type ApplyOptions, type ClusterClient, type GetOptions, type ObjectKey } from './cluster-client.ts';

/** what the client needs of an informer: SupervisedInformer is one */
export interface InformerCache<T extends KubernetesObject = KubernetesObject> {
  hasSynced(): boolean;
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface CachedKind {
  apiVersion: string;
  kind: string;
  /** the informer's label selector (equality terms, `a=b,c=d`); '' when it holds every object of the kind */
  labelSelector: string;
  cache: InformerCache;
}

/** a write whose result the cache has not shown yet, with the resourceVersion the cache held when it was made */
interface PendingWrite {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  before: string | undefined;
  at: number;
  /** the object's labels before and after the write, as far as known: which lists the write can change */
  labelSets: Array<Record<string, string>>;
}

/** past this, a write the cache never showed (it left the cached labels, say) stops sending reads to the API */
const PENDING_TTL_MS = 30_000;
const SWEEP_AT = 256;
/** deleted objects of kinds with no informer remembered, oldest forgotten first */
const MAX_GONE = 10_000;
/** objects whose last apply this client remembers (a Registry has about fifteen) */
const MAX_APPLIED = 20_000;

/** `a=b,c==d` as pairs; null when the selector has a term the cache cannot evaluate (`!=`, `in`, existence) */
export function equalityTerms(selector: string): Array<[string, string]> | null {
  const terms: Array<[string, string]> = [];
  for (const term of selector.split(',').map((t) => t.trim()).filter(Boolean)) {
    const match = /^([^=!\s]+)\s*==?\s*([^=!\s]*)$/.exec(term);
    if (!match) return null;
    terms.push([match[1]!, match[2]!]);
  }
  return terms;
}

function matches(object: KubernetesObject, terms: Array<[string, string]>): boolean {
  return terms.every(([label, value]) => object.metadata?.labels?.[label] === value);
}

function versionOf(object: KubernetesObject | undefined | void): string | undefined {
  return object?.metadata?.resourceVersion;
}

export class CachedClusterClient implements ClusterClient {
  private readonly live: ClusterClient;
  private readonly kinds = new Map<string, CachedKind & { terms: Array<[string, string]> }>();
  private readonly pending = new Map<string, PendingWrite>();
  /**
   * Objects of kinds with no informer that this client deleted (or found gone) and has not applied since: a
   * reconcile deletes every child it does not want on every pass (a budget with one replica, an autoscaler), and
   * only the operator makes those, so the second delete is not sent.
   */
  private readonly gone = new Set<string>();
  /** per object: what this client last applied to it, and the resourceVersion the server answered */
  private readonly applied = new Map<string, { manifest: string; version: string }>();
  private readonly clock: Clock;
  /** reads answered from a cache and from the API server, by kind: for tests and logs */
  readonly reads = { cached: new Map<string, number>(), live: new Map<string, number>() };

  constructor(live: ClusterClient, kinds: CachedKind[], clock: Clock = realClock) {
    this.live = live;
    this.clock = clock;
    for (const kind of kinds) {
      const terms = equalityTerms(kind.labelSelector);
      if (!terms) throw new Error(`cannot cache ${kind.kind} by selector ${kind.labelSelector}`);
      this.kinds.set(`${kind.apiVersion}/${kind.kind}`, { ...kind, terms });
    }
  }

  async get<T extends KubernetesObject>(key: ObjectKey, options?: GetOptions): Promise<T | null> {
    const source = this.syncedSource(key.apiVersion, key.kind);
    if (source && !this.isPending(key)) {
      const found = source.cache.get(key.name, key.namespace);
      if (found) return this.served(source, found) as T;
      // the informer holds every object of the kind, or every one the operator labels: not in it is not there
      if (source.terms.length === 0 || options?.operatorMade) return this.count('cached', key.kind, null);
    }
    return this.count('live', key.kind, await this.live.get<T>(key));
  }

  async list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string | undefined, labelSelector: string): Promise<T[]> {
    const source = this.syncedSource(apiVersion, kind);
    const wanted = equalityTerms(labelSelector);
    // the cache answers when every object the selector asks for carries the labels the informer selects by
    const covered = source && wanted && source.terms.every(([label, value]) => wanted.some(([l, v]) => l === label && v === value));
    if (!source || !covered || this.hasPendingOfKind(apiVersion, kind, namespace, wanted!)) {
      return this.count('live', kind, await this.live.list<T>(apiVersion, kind, namespace, labelSelector));
    }
    const items = source.cache.list(namespace).filter((object) => matches(object, wanted!));
    this.count('cached', kind, null);
    return items.map((object) => this.clone(source, object) as T);
  }

  /**
   * Skips the call when this client applied the same manifest before and the synced cache holds the object at
   * the resourceVersion that apply returned: nothing, nobody's edit included, changed it since, so the apply
   * would change nothing. A settled Registry pass then writes nothing; with 50 Registries starting at once, the
   * API server was busy answering a dozen no-op applies per pass.
   */
  async apply<T extends KubernetesObject>(manifest: T, options?: ApplyOptions): Promise<T> {
    const key = keyOf(manifest);
    const id = this.id(key);
    this.gone.delete(id);
    const fingerprint = createHash('sha256').update(`${options?.fieldManager ?? ''}\n${JSON.stringify(manifest)}`).digest('base64');
    const source = this.syncedSource(key.apiVersion, key.kind);
    const cached = source?.cache.get(key.name, key.namespace);
    const last = this.applied.get(id);
    if (source && cached && last?.manifest === fingerprint && versionOf(cached) === last.version && !this.isPending(key)) {
      return this.served(source, cached) as T;
    }
    const before = versionOf(cached);
    const result = await this.live.apply(manifest, options);
    this.wrote(key, before, result);
    const version = versionOf(result);
    if (version !== undefined) {
      if (this.applied.size >= MAX_APPLIED) this.applied.delete(this.applied.keys().next().value!);
      this.applied.set(id, { manifest: fingerprint, version });
    }
    return result;
  }

  /**
   * Skips the call when the synced cache says the object is not there (and no write of ours is in flight), or, for
   * a kind with no informer, when this client deleted it before and has not applied it since.
   */
  async delete(key: ObjectKey): Promise<void> {
    this.applied.delete(this.id(key));
    const source = this.syncedSource(key.apiVersion, key.kind);
    if (source && !this.isPending(key) && !source.cache.get(key.name, key.namespace)) return;
    const id = this.id(key);
    const uncached = !this.kinds.has(`${key.apiVersion}/${key.kind}`);
    if (uncached && this.gone.has(id)) return;
    const before = this.cachedVersion(key);
    await this.live.delete(key);
    this.wrote(key, before, undefined);
    if (uncached) {
      if (this.gone.size >= MAX_GONE) this.gone.delete(this.gone.values().next().value!);
      this.gone.add(id);
    }
  }

  async patchStatus(key: ObjectKey, status: unknown): Promise<KubernetesObject | void> {
    const before = this.cachedVersion(key);
    const result = await this.live.patchStatus(key, status);
    this.wrote(key, before, result);
    return result;
  }

  async annotate(key: ObjectKey, annotations: Record<string, string>): Promise<void> {
    const before = this.cachedVersion(key);
    await this.live.annotate(key, annotations);
    this.wrote(key, before, undefined);
  }

  async setFinalizers(key: ObjectKey, finalizers: string[], resourceVersion: string | undefined): Promise<KubernetesObject | void> {
    const before = this.cachedVersion(key);
    const result = await this.live.setFinalizers(key, finalizers, resourceVersion);
    this.wrote(key, before, result);
    return result;
  }

  /** writes whose result no cache shows yet: reads of those objects go to the API server */
  pendingWrites(): number {
    for (const [id, write] of this.pending) if (this.settled(write)) this.pending.delete(id);
    return this.pending.size;
  }

  private syncedSource(apiVersion: string, kind: string) {
    const source = this.kinds.get(`${apiVersion}/${kind}`);
    return source?.cache.hasSynced() ? source : undefined;
  }

  private cachedVersion(key: ObjectKey): string | undefined {
    return versionOf(this.syncedSource(key.apiVersion, key.kind)?.cache.get(key.name, key.namespace));
  }

  /** @param result the object as the server returned it; undefined when the write returns none (delete, annotate) */
  private wrote(key: ObjectKey, before: string | undefined, result: KubernetesObject | undefined | void): void {
    const source = this.kinds.get(`${key.apiVersion}/${key.kind}`);
    if (!source) return;
    if (result) {
      // the server answered with the version the cache already holds: nothing changed, the cache is current
      if (before !== undefined && versionOf(result) === before) return;
      // outside the informer's selector: the cache will never show it, and reads of it go live anyway
      if (!matches(result, source.terms)) return;
    } else if (before === undefined) {
      // a delete or patch of an object the cache does not hold: nothing stale to wait for
      return;
    }
    // entries are dropped when a read finds them settled; objects nobody reads again are swept now and then
    if (this.pending.size >= SWEEP_AT) this.pendingWrites();
    const labelSets = [source.cache.get(key.name, key.namespace), result ?? undefined]
      .flatMap((object) => (object ? [object.metadata?.labels ?? {}] : []));
    this.pending.set(this.id(key), {
      apiVersion: key.apiVersion, kind: key.kind, namespace: key.namespace ?? '', name: key.name, before, at: this.clock.now(), labelSets,
    });
  }

  /** the cache has moved on from the version it held at the write (shows it, a later one, or its deletion) */
  private settled(write: PendingWrite): boolean {
    if (this.clock.now() - write.at > PENDING_TTL_MS) return true;
    const source = this.syncedSource(write.apiVersion, write.kind);
    if (!source) return false;
    return versionOf(source.cache.get(write.name, write.namespace || undefined)) !== write.before;
  }

  private isPending(key: ObjectKey): boolean {
    const id = this.id(key);
    const write = this.pending.get(id);
    if (!write) return false;
    if (!this.settled(write)) return true;
    this.pending.delete(id);
    return false;
  }

  /**
   * Whether a write the cache does not show yet may change this list: one of the kind, in the namespace, of an
   * object whose labels (before or after the write) the selector matches. A Registry's pass writes its Secrets and
   * then lists the copies of them it keeps in other namespaces: those lists stay in memory.
   */
  private hasPendingOfKind(apiVersion: string, kind: string, namespace: string | undefined, terms: Array<[string, string]>): boolean {
    let found = false;
    for (const [id, write] of this.pending) {
      if (write.apiVersion !== apiVersion || write.kind !== kind) continue;
      if (namespace !== undefined && write.namespace !== namespace) continue;
      if (!write.labelSets.some((labels) => terms.every(([label, value]) => labels[label] === value))) continue;
      if (this.settled(write)) this.pending.delete(id);
      else found = true;
    }
    return found;
  }

  private id(key: ObjectKey): string {
    return `${key.apiVersion}/${key.kind}/${key.namespace ?? ''}/${key.name}`;
  }

  /**
   * A deep copy, so a caller cannot change the cache; typed list calls leave apiVersion and kind out of their
   * items, so they are put back.
   */
  private clone(source: CachedKind, object: KubernetesObject): KubernetesObject {
    const copy = structuredClone(object);
    copy.apiVersion ??= source.apiVersion;
    copy.kind ??= source.kind;
    return copy;
  }

  private served(source: CachedKind, object: KubernetesObject): KubernetesObject {
    this.count('cached', source.kind, null);
    return this.clone(source, object);
  }

  private count<T>(how: 'cached' | 'live', kind: string, value: T): T {
    const counts = this.reads[how];
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    return value;
  }
}
