import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { RegistryController } from '../controllers/registry-controller.ts';
import { MANAGED_BY_LABELS, MANAGED_SELECTOR } from '../resources/names.ts';
import { FakeClock } from '../runtime/fake-clock.ts';
import { CachedClusterClient, equalityTerms, type InformerCache } from './cached-cluster-client.ts';
import { OPERATOR_MADE, type ApplyOptions, type ObjectKey } from './cluster-client.ts';
import { FakeClusterClient } from './fake-cluster-client.ts';

const NS = 'apps';

/** the API server: the in-memory fake, counting the calls that reach it */
class CountingClient extends FakeClusterClient {
  readonly calls: string[] = [];
  override async get<T extends KubernetesObject>(key: ObjectKey): Promise<T | null> {
    this.calls.push(`get ${key.kind} ${key.name}`);
    return super.get<T>(key);
  }
  override async list<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string | undefined, selector: string): Promise<T[]> {
    this.calls.push(`list ${kind}`);
    return super.list<T>(apiVersion, kind, namespace, selector);
  }
  override async delete(key: ObjectKey): Promise<void> {
    this.calls.push(`delete ${key.kind} ${key.name}`);
    return super.delete(key);
  }
  override async apply<T extends KubernetesObject>(manifest: T, options?: ApplyOptions): Promise<T> {
    // as the API server: an apply that changes nothing keeps the resourceVersion
    const id = `${manifest.apiVersion}/${manifest.kind}/${manifest.metadata?.namespace ?? ''}/${manifest.metadata?.name}`;
    this.calls.push(`apply ${manifest.kind} ${manifest.metadata?.name}`);
    const before = this.objects.get(id);
    const result = await super.apply(manifest, options);
    const unversioned = (o: KubernetesObject) => JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
    if (before && unversioned(before) === unversioned(result)) {
      this.objects.set(id, before);
      return structuredClone(before) as T;
    }
    return result;
  }
  reads(): string[] {
    return this.calls.filter((call) => !call.startsWith('delete') && !call.startsWith('apply'));
  }
}

/** an informer whose watch delivers only when the test says: what it holds is the API's state at the last catchUp */
class LaggingInformer implements InformerCache {
  private objects: KubernetesObject[] = [];
  private synced = false;
  private readonly api: FakeClusterClient;
  private readonly apiVersion: string;
  private readonly kind: string;
  private readonly terms: Array<[string, string]>;

  constructor(api: FakeClusterClient, apiVersion: string, kind: string, labelSelector: string) {
    this.api = api;
    this.apiVersion = apiVersion;
    this.kind = kind;
    this.terms = equalityTerms(labelSelector)!;
  }

  catchUp(): void {
    this.objects = [...this.api.objects.values()]
      .filter((o) => o.apiVersion === this.apiVersion && o.kind === this.kind)
      .filter((o) => this.terms.every(([label, value]) => o.metadata?.labels?.[label] === value))
      // typed list calls leave these out of their items
      .map((o) => { const { apiVersion: _a, kind: _k, ...rest } = structuredClone(o); return rest as KubernetesObject; });
    this.synced = true;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  get(name: string, namespace?: string): KubernetesObject | undefined {
    return this.objects.find((o) => o.metadata?.name === name && (o.metadata?.namespace ?? '') === (namespace ?? ''));
  }

  list(namespace?: string): readonly KubernetesObject[] {
    return this.objects.filter((o) => !namespace || o.metadata?.namespace === namespace);
  }
}

const managed = (name: string, data: Record<string, string>, namespace = NS, labels: Record<string, string> = {}): V1Secret =>
  ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels: { ...MANAGED_BY_LABELS, ...labels } }, data });
const configMap = (name: string, value: string): KubernetesObject =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS, labels: { ...MANAGED_BY_LABELS } }, data: { value } } as KubernetesObject);

describe('CachedClusterClient', () => {
  let api: CountingClient;
  let secrets: LaggingInformer;
  let configMaps: LaggingInformer;
  let nodes: LaggingInformer;
  let registries: LaggingInformer;
  /** the other kinds operator.ts caches: regop's Deployments, Services, Ingresses and CronJobs */
  let children: LaggingInformer[];
  let clock: FakeClock;
  let client: CachedClusterClient;
  const catchUp = () => { for (const informer of [secrets, configMaps, nodes, registries, ...children]) informer.catchUp(); };

  beforeEach(() => {
    api = new CountingClient();
    clock = new FakeClock();
    secrets = new LaggingInformer(api, 'v1', 'Secret', MANAGED_SELECTOR);
    configMaps = new LaggingInformer(api, 'v1', 'ConfigMap', MANAGED_SELECTOR);
    nodes = new LaggingInformer(api, 'v1', 'Node', '');
    registries = new LaggingInformer(api, 'regop.dev/v1alpha1', 'Registry', '');
    const childKinds = [['apps/v1', 'Deployment'], ['v1', 'Service'], ['networking.k8s.io/v1', 'Ingress'], ['batch/v1', 'CronJob']] as const;
    children = childKinds.map(([apiVersion, kind]) => new LaggingInformer(api, apiVersion, kind, MANAGED_SELECTOR));
    client = new CachedClusterClient(api, [
      ...childKinds.map(([apiVersion, kind], i) => ({ apiVersion, kind, labelSelector: MANAGED_SELECTOR, cache: children[i]! })),
      { apiVersion: 'v1', kind: 'Secret', labelSelector: MANAGED_SELECTOR, cache: secrets },
      { apiVersion: 'v1', kind: 'ConfigMap', labelSelector: MANAGED_SELECTOR, cache: configMaps },
      { apiVersion: 'v1', kind: 'Node', labelSelector: '', cache: nodes },
      { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', labelSelector: '', cache: registries },
    ], clock);
  });

  it('answers gets of a synced cache without asking the API server, and asks it until the cache has synced', async () => {
    api.put(managed('team-auth', { htpasswd: 'aGk=' }));
    assert.equal((await client.get<V1Secret>({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'team-auth' }))!.data!.htpasswd, 'aGk=');
    assert.deepEqual(api.reads(), ['get Secret team-auth'], 'an unsynced cache was trusted');

    catchUp();
    const cached = await client.get<V1Secret>({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'team-auth' });
    assert.equal(api.reads().length, 1, 'a synced cache was not used');
    assert.deepEqual([cached!.apiVersion, cached!.kind], ['v1', 'Secret'], 'apiVersion and kind are put back');
    cached!.data!.htpasswd = 'changed';
    assert.equal((await client.get<V1Secret>({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'team-auth' }))!.data!.htpasswd, 'aGk=',
      'a caller changed the cache through the object it was given');
  });

  it('reads what a label-selected cache cannot hold from the API server (a user\'s Secret), and trusts a complete cache\'s miss', async () => {
    api.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-password', namespace: NS }, data: { password: 'cHc=' } } as V1Secret);
    catchUp();
    assert.ok(await client.get({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'alice-password' }));
    assert.equal(await client.get({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'not-made-yet' }), null);
    assert.equal(await client.get({ apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', namespace: NS, name: 'gone' }), null);
    assert.equal(await client.get({ apiVersion: 'v1', kind: 'Pod', namespace: NS, name: 'uncached-kind' }), null);
    assert.deepEqual(api.reads(), ['get Secret alice-password', 'get Secret not-made-yet', 'get Pod uncached-kind']);
  });

  it('trusts a label-selected cache\'s miss for an object the operator makes itself, unless its own write is not shown yet', async () => {
    const key = { apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'team-ca' };
    assert.equal(await client.get(key, OPERATOR_MADE), null);
    assert.deepEqual(api.reads(), ['get Secret team-ca'], 'an unsynced cache was trusted');

    catchUp();
    assert.equal(await client.get(key, OPERATOR_MADE), null);
    assert.equal(await client.get({ ...key, kind: 'Service', apiVersion: 'v1' }, OPERATOR_MADE), null);
    assert.equal(api.reads().length, 1, 'a miss of the synced cache was asked of the API server');

    await client.apply(managed('team-ca', { 'tls.crt': 'Y2E=' }));
    assert.ok(await client.get(key, OPERATOR_MADE), 'an object just written was not found before the cache showed it');
    assert.deepEqual(api.reads(), ['get Secret team-ca', 'get Secret team-ca']);
  });

  it('answers a list from the cache only when its selector narrows the informer\'s', async () => {
    api.put(managed('team-pull', {}, 'web', { 'regop.dev/source': 'apps.team' }));
    api.put(managed('other-pull', {}, 'web', { 'regop.dev/source': 'apps.other' }));
    api.put({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    catchUp();
    const copies = await client.list('v1', 'Secret', undefined, `${MANAGED_SELECTOR},regop.dev/source=apps.team`);
    assert.deepEqual(copies.map((c) => [c.kind, c.metadata!.name]), [['Secret', 'team-pull']]);
    assert.equal((await client.list('v1', 'Node', undefined, '')).length, 1);
    assert.deepEqual(api.reads(), []);

    // without the managed label the selector may match objects the informer never saw; a `!=` it cannot evaluate
    await client.list('v1', 'Secret', undefined, 'regop.dev/source=apps.team');
    await client.list('v1', 'Secret', 'web', `${MANAGED_SELECTOR},regop.dev/source!=apps.team`);
    assert.deepEqual(api.reads(), ['list Secret', 'list Secret']);
  });

  it('reads its own writes: an object it changed is read from the API server until the cache shows the change', async () => {
    catchUp();
    await client.apply(configMap('team-config', 'one'));
    assert.equal((await client.get<KubernetesObject & { data: { value: string } }>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: NS, name: 'team-config' }))!.data.value, 'one');
    assert.equal((await client.list('v1', 'ConfigMap', NS, MANAGED_SELECTOR)).length, 1, 'a list missed an object just created');
    assert.deepEqual(api.reads(), ['get ConfigMap team-config', 'list ConfigMap']);

    configMaps.catchUp();
    await client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: NS, name: 'team-config' });
    assert.equal(api.reads().length, 2, 'the cache that shows the write was not trusted again');

    await client.apply(configMap('team-config', 'two'));
    const read = await client.get<KubernetesObject & { data: { value: string } }>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: NS, name: 'team-config' });
    assert.equal(read!.data.value, 'two', 'a stale cached copy was served after a write');

    // a write that changed nothing leaves the cache trusted
    configMaps.catchUp();
    await client.apply(configMap('team-config', 'two'));
    await client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: NS, name: 'team-config' });
    assert.equal(api.reads().length, 3);
    assert.equal(client.pendingWrites(), 0);
  });

  it('sends an unchanged apply only when the object changed since its last apply', async () => {
    catchUp();
    await client.apply(configMap('team-config', 'one'));
    configMaps.catchUp();
    await client.apply(configMap('team-config', 'one'));
    assert.deepEqual(api.calls.filter((call) => call.startsWith('apply')), ['apply ConfigMap team-config'], 'an apply that could change nothing was sent');

    // someone else's edit bumps the resourceVersion: the same manifest is applied again, and puts the value back
    const edited = structuredClone(await api.get<KubernetesObject & { data: { value: string } }>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: NS, name: 'team-config' }))!;
    edited.data.value = 'edited by hand';
    api.put(edited);
    configMaps.catchUp();
    await client.apply(configMap('team-config', 'one'));
    assert.equal(api.calls.filter((call) => call.startsWith('apply')).length, 2, 'an edited object was not applied again');
    assert.equal((await api.get<KubernetesObject & { data: { value: string } }>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: NS, name: 'team-config' }))!.data.value, 'one');

    // another manifest is always sent
    configMaps.catchUp();
    await client.apply(configMap('team-config', 'two'));
    assert.equal(api.calls.filter((call) => call.startsWith('apply')).length, 3);
  });

  it('sends no delete for an object the synced cache does not hold, and serves no deleted object from a stale cache', async () => {
    api.put(managed('team-mirrors', { a: 'Yg==' }));
    catchUp();
    await client.delete({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'never-made' });
    assert.deepEqual(api.calls, []);

    await client.delete({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'team-mirrors' });
    assert.deepEqual(api.calls, ['delete Secret team-mirrors']);
    assert.equal(await client.get({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: 'team-mirrors' }), null, 'a deleted Secret was served');
    assert.equal((await client.list('v1', 'Secret', NS, MANAGED_SELECTOR)).length, 0);
    secrets.catchUp();
    assert.equal(client.pendingWrites(), 0);
  });

  it('deletes an object of a kind with no informer once, and again only after it was applied', async () => {
    const budget = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'team', namespace: NS } };
    const key = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', namespace: NS, name: 'team' };
    await client.delete(key);
    await client.delete(key);
    assert.deepEqual(api.calls, ['delete PodDisruptionBudget team']);
    await client.apply(budget);
    await client.delete(key);
    assert.deepEqual(api.calls, ['delete PodDisruptionBudget team', 'apply PodDisruptionBudget team', 'delete PodDisruptionBudget team']);
    assert.equal(await api.get(key), null, 'the budget applied since was not deleted');
  });

  it('gives up waiting for a write the cache never shows after 30 s', async () => {
    catchUp();
    await client.apply(configMap('team-config', 'one'));
    api.objects.clear(); // the cache will never show it, and the API no longer has it either
    await clock.advance(29_000);
    assert.equal(client.pendingWrites(), 1);
    await clock.advance(2_000);
    assert.equal(client.pendingWrites(), 0);
    assert.equal((await client.list('v1', 'ConfigMap', NS, MANAGED_SELECTOR)).length, 0);
    assert.deepEqual(api.reads(), []);
  });

  it('forgets writes its cache has shown though nothing reads those objects again', async () => {
    catchUp();
    for (let i = 0; i < 300; i++) await client.apply(configMap(`config-${i}`, 'one'));
    configMaps.catchUp();
    await client.apply(configMap('one-more', 'one'));
    // the 300 earlier writes are settled and swept; only the last one waits for its watch event
    assert.equal((client as unknown as { pending: Map<string, unknown> }).pending.size, 1, 'settled writes were kept');
  });

  it('lets a Registry reconcile twice on caches that lag behind its writes without writing its status, a certificate or a password twice', async () => {
    const events: string[] = [];
    const sink = { normal: (_o: KubernetesObject, reason: string) => { events.push(reason); }, warning: (_o: KubernetesObject, reason: string) => { events.push(reason); } };
    const controller = new RegistryController({ client, events: sink, defaultImage: 'regop:dev' });
    api.put({ apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'team', namespace: NS, uid: 'u1', generation: 1 }, spec: { auth: { users: [{ name: 'alice' }] } } } as Registry);
    catchUp();
    await controller.reconcile(`${NS}/team`);
    // the children it makes itself are looked up in the caches, not asked for one by one
    assert.deepEqual(api.reads(), ['list Pod'], 'the first pass asked the API server for children the caches said were not there');
    const patches = api.statusPatches.length;
    assert.equal(patches, 1);
    const issued = events.filter((e) => e === 'CertificateIssued' || e === 'PasswordGenerated' || e === 'CertificateAuthorityCreated').length;
    assert.equal(issued, 3);

    // no watch event has arrived yet: every cache still holds what it held before the first pass
    await controller.reconcile(`${NS}/team`);
    assert.equal(api.statusPatches.length, patches, 'the status was written again over a stale copy');
    assert.equal(events.filter((e) => e === 'CertificateIssued' || e === 'PasswordGenerated' || e === 'CertificateAuthorityCreated').length, issued,
      'a stale cache made the second pass issue a certificate or a password again');

    // the watches caught up: a third pass reads from memory all but its pods, applies nothing (every child is as
    // its last apply left it, but for the kinds no informer holds) and sends no delete (the budget and autoscaler
    // it does not want were deleted by the first pass)
    catchUp();
    api.calls.length = 0;
    await controller.reconcile(`${NS}/team`);
    assert.equal(api.statusPatches.length, patches);
    // the claim and the NetworkPolicy have no informer: without a cache to compare with, they are applied
    assert.deepEqual(api.calls, ['apply PersistentVolumeClaim team-data', 'list Pod', 'apply NetworkPolicy team']);
  });
});
