// Leader election on a coordination.k8s.io/v1 Lease, as client-go's: acquire the lease when it is free, expired
// or ours; renew every retry period; a conflict (409) means another replica won the race. A leader that cannot
// renew within the renew deadline stops leading (the process exits, as controller-runtime's does), and one that
// stops releases the lease so a successor takes over at once.
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { realClock, type Clock } from './work-queue.ts';

export interface LeaderElectionOptions {
  client: Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** for tests */
  clock?: Clock;
}

export type LeaseDecision = 'acquire' | 'renew' | 'wait';

/**
 * What a candidate may do with the lease as it is now. `observedAt` is when this candidate first saw the lease
 * as it is (same resourceVersion), on its own clock: as client-go does, expiry is judged by how long the lease
 * has stood still here, not by its renewTime, which the holder wrote from another node's clock (a candidate
 * whose clock runs ahead would take a lease that is being renewed).
 */
export function decide(lease: V1Lease | null, identity: string, now: Date, observedAt: number): LeaseDecision {
  const spec = lease?.spec;
  if (!spec?.holderIdentity) return 'acquire';
  if (spec.holderIdentity === identity) return 'renew';
  const durationMs = (spec.leaseDurationSeconds ?? 15) * 1000;
  return observedAt + durationMs < now.getTime() ? 'acquire' : 'wait';
}

/**
 * Lease times are MicroTime, which the API server parses with exactly six fractional digits; client-node would
 * send a Date's three, so the string is formatted here.
 */
export function microTime(date: Date): never {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as never;
}

function status(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

interface Callbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export class LeaderElector {
  private readonly options: Required<Omit<LeaderElectionOptions, 'clock'>>;
  private readonly clock: Clock;
  private leading = false;
  private stopped = false;
  private lost = false;
  private timer: { cancel(): void } | undefined;
  private deadline: { cancel(): void } | undefined;
  private attempt: Promise<void> | undefined;
  /** the lease's resourceVersion when last read, and when (on our clock) it was first read as that */
  private observed: { version: string | undefined; at: number } | undefined;

  constructor(options: LeaderElectionOptions) {
    const { clock, ...rest } = options;
    this.clock = clock ?? realClock;
    this.options = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...rest };
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Tries until it leads, calls onStartedLeading, keeps renewing; onStoppedLeading when leadership is lost. */
  run(callbacks: Callbacks): void {
    const tick = async () => {
      if (this.stopped || this.lost) return;
      try {
        const held = await this.tryAcquireOrRenew();
        // the renew deadline may have passed while this attempt was under way
        if (this.lost) return;
        if (held) {
          const first = !this.leading;
          this.leading = true;
          // stop() came while this attempt was under way: it releases the lease once the attempt is done
          if (this.stopped) return;
          this.armDeadline(callbacks);
          if (first) {
            this.options.logger.info({ lease: this.options.name, identity: this.options.identity }, 'became leader');
            callbacks.onStartedLeading();
          }
        } else if (this.leading) {
          this.lose(callbacks, 'another replica holds the lease');
          return;
        }
      } catch (error) {
        if (this.stopped || this.lost) return;
        this.options.logger.warn({ reason: (error as Error).message }, 'lease update failed');
      }
      if (this.stopped) return;
      this.timer = this.clock.setTimeout(() => { this.attempt = tick(); }, this.options.retryPeriodMs);
    };
    this.attempt = tick();
  }

  /**
   * A leader that has not renewed within the renew deadline stops leading, whether its attempts fail or hang
   * (a request to an unreachable API server may not end before the lease has expired and another replica leads).
   */
  private armDeadline(callbacks: Callbacks): void {
    this.deadline?.cancel();
    this.deadline = this.clock.setTimeout(() => {
      if (this.leading && !this.stopped) this.lose(callbacks, 'could not renew the lease within the renew deadline');
    }, this.options.renewDeadlineMs);
  }

  private lose(callbacks: Callbacks, reason: string): void {
    this.leading = false;
    this.lost = true;
    this.timer?.cancel();
    this.deadline?.cancel();
    this.options.logger.error({ reason }, 'lost leadership');
    callbacks.onStoppedLeading();
  }

  /** Stops campaigning; a leader clears the holder so that a successor need not wait for the lease to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.deadline?.cancel();
    // an attempt under way may yet take or renew the lease: let it land (for at most the renew deadline) first
    if (this.attempt) {
      let timeout: { cancel(): void } | undefined;
      await Promise.race([
        this.attempt.catch(() => undefined),
        new Promise<void>((resolve) => { timeout = this.clock.setTimeout(resolve, this.options.renewDeadlineMs); }),
      ]);
      timeout?.cancel();
    }
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.options.client.readNamespacedLease({ name: this.options.name, namespace: this.options.namespace });
      if (lease.spec?.holderIdentity !== this.options.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: undefined as unknown as string, leaseDurationSeconds: 1, renewTime: microTime(new Date(this.clock.now())) };
      await this.options.client.replaceNamespacedLease({ name: this.options.name, namespace: this.options.namespace, body: lease });
    } catch (error) {
      this.options.logger.warn({ reason: (error as Error).message }, 'could not release the lease');
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.options;
    const now = new Date(this.clock.now());
    let lease: V1Lease | null = null;
    try {
      lease = await client.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (status(error) !== 404) throw error;
    }
    const version = lease?.metadata?.resourceVersion;
    if (!this.observed || this.observed.version !== version) this.observed = { version, at: now.getTime() };
    const decision = decide(lease, identity, now, this.observed.at);
    if (decision === 'wait') return false;
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.options.leaseDurationMs / 1000),
      renewTime: microTime(now),
      acquireTime: microTime(decision === 'acquire' ? now : new Date(lease?.spec?.acquireTime ?? now)),
      leaseTransitions: (lease?.spec?.leaseTransitions ?? 0) + (decision === 'acquire' && lease ? 1 : 0),
    };
    try {
      if (!lease) {
        await client.createNamespacedLease({ namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec } });
      } else {
        await client.replaceNamespacedLease({ name, namespace, body: { ...lease, spec } });
      }
      return true;
    } catch (error) {
      // 409: the lease changed since we read it; someone else acted first
      if (status(error) === 409) return false;
      throw error;
    }
  }
}
