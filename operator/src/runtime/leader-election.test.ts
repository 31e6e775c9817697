import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { V1Lease } from '@kubernetes/client-node';
import pino from 'pino';
import { FakeClock, settle } from './fake-clock.ts';
import { LeaderElector, microTime } from './leader-election.ts';

const logger = pino({ level: 'silent' });

function apiError(code: number, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * The Lease calls the elector makes, in memory, with the API server's optimistic concurrency: a replace that
 * carries a stale resourceVersion is refused with 409, a create of an existing lease too. `failing` makes every
 * call fail with 500; `hanging` makes calls wait until released.
 */
class FakeLeaseApi {
  lease: V1Lease | undefined;
  private version = 0;
  failing = false;
  hanging = false;
  private held: Array<() => void> = [];

  private async gate(): Promise<void> {
    if (this.hanging) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.failing) throw apiError(500, 'etcdserver: request timed out');
  }

  releaseHeld(): void {
    this.hanging = false;
    for (const resolve of this.held.splice(0)) resolve();
  }

  async readNamespacedLease(_: { name: string; namespace: string }): Promise<V1Lease> {
    await this.gate();
    if (!this.lease) throw apiError(404, 'leases.coordination.k8s.io "regop" not found');
    return structuredClone(this.lease);
  }

  async createNamespacedLease({ body }: { namespace: string; body: V1Lease }): Promise<V1Lease> {
    await this.gate();
    if (this.lease) throw apiError(409, 'already exists');
    return this.store(body);
  }

  async replaceNamespacedLease({ body }: { name: string; namespace: string; body: V1Lease }): Promise<V1Lease> {
    await this.gate();
    if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw apiError(409, 'the object has been modified');
    return this.store(body);
  }

  /** another party writes the lease directly */
  store(body: V1Lease): V1Lease {
    this.lease = structuredClone({ ...body, metadata: { ...body.metadata, resourceVersion: String(++this.version) } });
    return structuredClone(this.lease);
  }

  holder(): string | undefined {
    return this.lease?.spec?.holderIdentity || undefined;
  }
}

function candidate(api: FakeLeaseApi, clock: FakeClock, identity: string) {
  const elector = new LeaderElector({ client: api as never, namespace: 'regop-system', name: 'regop', identity, logger, clock });
  const log: string[] = [];
  const run = () => elector.run({ onStartedLeading: () => log.push('started'), onStoppedLeading: () => log.push('stopped') });
  return { elector, log, run };
}

describe('LeaderElector', () => {
  it('acquires a free lease at once and renews it every retry period', async () => {
    const clock = new FakeClock();
    const api = new FakeLeaseApi();
    const a = candidate(api, clock, 'pod-a');
    a.run();
    await settle();
    assert.deepEqual(a.log, ['started']);
    assert.equal(a.elector.isLeader(), true);
    assert.equal(api.holder(), 'pod-a');
    assert.equal(api.lease?.spec?.leaseDurationSeconds, 15);
    const acquired = api.lease?.spec?.acquireTime;
    assert.equal(api.lease?.spec?.renewTime, microTime(new Date(clock.now())));

    await clock.advance(2_000);
    assert.equal(api.lease?.spec?.renewTime, microTime(new Date(clock.now())), 'not renewed after one retry period');
    assert.equal(api.lease?.spec?.acquireTime, acquired, 'a renew changed acquireTime');
    await clock.advance(60_000);
    assert.deepEqual(a.log, ['started'], 'onStartedLeading was called again on a renew');
    assert.equal(api.lease?.spec?.leaseTransitions, 0);
    await a.elector.stop();
  });

  it('waits while the holder renews, and takes over once the holder stops renewing and its lease expires', async () => {
    const clock = new FakeClock();
    const api = new FakeLeaseApi();
    // a holder that renewed just now, then died without releasing
    api.store({ metadata: { name: 'regop', namespace: 'regop-system' }, spec: { holderIdentity: 'pod-dead', leaseDurationSeconds: 15, renewTime: microTime(new Date(clock.now())), acquireTime: microTime(new Date(clock.now())), leaseTransitions: 3 } });
    const b = candidate(api, clock, 'pod-b');
    b.run();
    await clock.advance(14_000);
    assert.deepEqual(b.log, [], 'took a lease that had not expired');
    assert.equal(api.holder(), 'pod-dead');
    await clock.advance(4_000);
    assert.deepEqual(b.log, ['started']);
    assert.equal(api.holder(), 'pod-b');
    assert.equal(api.lease?.spec?.leaseTransitions, 4);
    await b.elector.stop();
  });

  it('a second candidate stays standby while the leader renews, and leads right after the leader stops (the lease is released)', async () => {
    const clock = new FakeClock();
    const api = new FakeLeaseApi();
    const a = candidate(api, clock, 'pod-a');
    const b = candidate(api, clock, 'pod-b');
    a.run();
    await settle();
    b.run();
    await clock.advance(60_000);
    assert.deepEqual([a.log, b.log], [['started'], []]);

    await a.elector.stop();
    assert.equal(api.holder(), undefined, 'stop did not release the lease');
    assert.equal(a.elector.isLeader(), false);
    await clock.advance(2_000);
    assert.deepEqual(b.log, ['started'], 'the successor waited for the released lease to expire');
    assert.equal(api.holder(), 'pod-b');
    assert.deepEqual(a.log, ['started'], 'a stopped elector reported a loss or campaigned again');
    await clock.advance(30_000);
    assert.equal(api.holder(), 'pod-b');
    await b.elector.stop();
  });

  it('stops leading, and says so, when renewals fail until the renew deadline (10 s after the last renew)', async () => {
    const clock = new FakeClock();
    const api = new FakeLeaseApi();
    const a = candidate(api, clock, 'pod-a');
    a.run();
    await settle();
    api.failing = true;
    await clock.advance(9_999);
    assert.deepEqual(a.log, ['started'], 'gave up before the renew deadline');
    assert.equal(a.elector.isLeader(), true);
    await clock.advance(1);
    assert.deepEqual(a.log, ['started', 'stopped']);
    assert.equal(a.elector.isLeader(), false);
    api.failing = false;
    await clock.advance(60_000);
    assert.deepEqual(a.log, ['started', 'stopped'], 'campaigned again after losing');
    await a.elector.stop();
  });

  it('stops leading at the renew deadline when a renewal hangs (an API server that does not answer)', async () => {
    const clock = new FakeClock();
    const api = new FakeLeaseApi();
    const a = candidate(api, clock, 'pod-a');
    a.run();
    await settle();
    api.hanging = true;
    await clock.advance(10_000);
    assert.deepEqual(a.log, ['started', 'stopped'], 'still leading with a lease that others may take after 15 s');
    // the hung request ends after all: it must not make the replica a leader again
    api.releaseHeld();
    await settle();
    assert.deepEqual(a.log, ['started', 'stopped']);
    assert.equal(a.elector.isLeader(), false);
  });

  it('stops leading at once when another replica holds the lease', async () => {
    const clock = new FakeClock();
    const api = new FakeLeaseApi();
    const a = candidate(api, clock, 'pod-a');
    a.run();
    await settle();
    api.store({ ...api.lease!, spec: { ...api.lease!.spec, holderIdentity: 'pod-z', renewTime: microTime(new Date(clock.now())) } });
    await clock.advance(2_000);
    assert.deepEqual(a.log, ['started', 'stopped']);
  });

  it('an attempt under way when stop is called neither reports leading nor leaves the lease held', async () => {
    const clock = new FakeClock();
    const api = new FakeLeaseApi();
    const a = candidate(api, clock, 'pod-a');
    api.hanging = true;
    a.run();
    await settle();
    const stopping = a.elector.stop();
    api.releaseHeld();
    await stopping;
    await clock.advance(30_000);
    assert.deepEqual(a.log, [], 'onStartedLeading after stop');
    assert.equal(api.holder(), undefined, 'the lease taken by the late attempt was not released');
  });

  it('a candidate whose clock runs a minute ahead does not take a lease that is being renewed', async () => {
    const clockA = new FakeClock();
    const clockB = new FakeClock(clockA.now() + 60_000);
    const api = new FakeLeaseApi();
    const a = candidate(api, clockA, 'pod-a');
    const b = candidate(api, clockB, 'pod-b');
    a.run();
    await settle();
    b.run();
    for (let second = 0; second < 60; second++) {
      await clockA.advance(1_000);
      await clockB.advance(1_000);
    }
    assert.deepEqual([a.log, b.log], [['started'], []], 'two leaders: the fast clock judged the lease expired from its renewTime');
    assert.equal(api.holder(), 'pod-a');
    await a.elector.stop();
    await b.elector.stop();
  });

  it('judges a lease left by a dead holder by how long it has stood still here: it waits one lease duration from first sight', async () => {
    const clock = new FakeClock();
    const api = new FakeLeaseApi();
    const hourAgo = microTime(new Date(clock.now() - 3_600_000));
    api.store({ metadata: { name: 'regop', namespace: 'regop-system' }, spec: { holderIdentity: 'pod-dead', leaseDurationSeconds: 15, renewTime: hourAgo, acquireTime: hourAgo } });
    const b = candidate(api, clock, 'pod-b');
    b.run();
    await clock.advance(14_000);
    assert.deepEqual(b.log, []);
    await clock.advance(4_000);
    assert.deepEqual(b.log, ['started']);
    await b.elector.stop();
  });
});
