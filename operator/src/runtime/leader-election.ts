// Leader election on a coordination.k8s.io/v1 Lease, as client-go's: acquire the lease when it is free, expired
// or ours; renew every retry period; a conflict (409) means another replica won the race. A leader that cannot
// renew within the renew deadline stops leading (the process exits, as controller-runtime's does), and one that
// stops releases the lease so a successor takes over at once.
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface LeaderElectionOptions {
  client: Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => Date;
}

export type LeaseDecision = 'acquire' | 'renew' | 'wait';

/** What a candidate may do with the lease as it is now. */
export function decide(lease: V1Lease | null, identity: string, now: Date): LeaseDecision {
  const spec = lease?.spec;
  if (!spec?.holderIdentity) return 'acquire';
  if (spec.holderIdentity === identity) return 'renew';
  const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
  const durationMs = (spec.leaseDurationSeconds ?? 15) * 1000;
  return renewed + durationMs < now.getTime() ? 'acquire' : 'wait';
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

export class LeaderElector {
  private readonly options: Required<Omit<LeaderElectionOptions, 'now'>> & { now: () => Date };
  private leading = false;
  private stopped = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: LeaderElectionOptions) {
    this.options = {
      leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, now: () => new Date(), ...options,
    };
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Tries until it leads, calls onStartedLeading, keeps renewing; onStoppedLeading when leadership is lost. */
  run(callbacks: { onStartedLeading(): void; onStoppedLeading(): void }): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        const held = await this.tryAcquireOrRenew();
        if (held) {
          this.lastRenew = Date.now();
          if (!this.leading) {
            this.leading = true;
            this.options.logger.info({ lease: this.options.name, identity: this.options.identity }, 'became leader');
            callbacks.onStartedLeading();
          }
        } else if (this.leading) {
          this.lose(callbacks, 'another replica holds the lease');
          return;
        }
      } catch (error) {
        this.options.logger.warn({ reason: (error as Error).message }, 'lease update failed');
        if (this.leading && Date.now() - this.lastRenew > this.options.renewDeadlineMs) {
          this.lose(callbacks, 'could not renew the lease within the renew deadline');
          return;
        }
      }
      this.timer = setTimeout(() => void tick(), this.options.retryPeriodMs);
    };
    void tick();
  }

  private lose(callbacks: { onStoppedLeading(): void }, reason: string): void {
    this.leading = false;
    this.options.logger.error({ reason }, 'lost leadership');
    callbacks.onStoppedLeading();
  }

  /** Stops campaigning; a leader clears the holder so that a successor need not wait for the lease to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.options.client.readNamespacedLease({ name: this.options.name, namespace: this.options.namespace });
      if (lease.spec?.holderIdentity !== this.options.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: undefined as unknown as string, leaseDurationSeconds: 1, renewTime: microTime(this.options.now()) };
      await this.options.client.replaceNamespacedLease({ name: this.options.name, namespace: this.options.namespace, body: lease });
    } catch (error) {
      this.options.logger.warn({ reason: (error as Error).message }, 'could not release the lease');
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.options;
    const now = this.options.now();
    let lease: V1Lease | null = null;
    try {
      lease = await client.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (status(error) !== 404) throw error;
    }
    const decision = decide(lease, identity, now);
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
