// A bounded queue with one sender: items are delivered in order, each retried a bounded number of times with
// exponential backoff. When the queue is full a new item is dropped, never buffered: an endpoint that is down or
// slow costs at most `capacity` items of memory (distribution's notifications grew without bound instead, #2422).

/** what one attempt came to: done, worth another try (a 5xx), or hopeless (a 4xx); `reason` for the log */
export interface AttemptOutcome {
  outcome: 'delivered' | 'retry' | 'reject';
  reason?: string;
}

export interface DeliveryQueueOptions<T> {
  /** items waiting at most (the one being sent not included) */
  capacity: number;
  /** attempts after the first */
  retries: number;
  /** the wait before the first retry; doubled for each next one, up to maxBackoffMs */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** one attempt; the signal aborts it when the queue is closed. A throw counts as 'retry' (a timeout, a refused connection) */
  attempt(item: T, signal: AbortSignal): Promise<AttemptOutcome>;
  onDelivered?(item: T): void;
  /** given up after its retries (or rejected): `reason` says why, for a log line */
  onFailed?(item: T, reason: string): void;
  /** not queued: the queue was full, or closed */
  onDropped?(item: T): void;
}

export class DeliveryQueue<T> {
  private readonly options: DeliveryQueueOptions<T>;
  private readonly items: T[] = [];
  private sending: Promise<void> | null = null;
  private inFlight = 0;
  private closed = false;
  private readonly stop = new AbortController();

  constructor(options: DeliveryQueueOptions<T>) {
    this.options = options;
  }

  /** items waiting plus the one being sent */
  get length(): number {
    return this.items.length + this.inFlight;
  }

  /** Queues an item; false (and onDropped) when the queue is full or closed. Never waits. */
  push(item: T): boolean {
    if (this.closed || this.items.length >= this.options.capacity) {
      this.options.onDropped?.(item);
      return false;
    }
    this.items.push(item);
    this.startSender();
    return true;
  }

  private startSender(): void {
    if (this.sending) return;
    // the sender starts on a later turn of the event loop: whoever queued (a request) finishes its own work first
    this.sending = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.sendAll())
      // only a callback (a counter, a log line) can throw here; the queue must outlive it
      .catch(() => undefined)
      .finally(() => {
        this.sending = null;
        // an item pushed after the loop saw the queue empty, but before this ran, found a sender still set
        if (this.items.length > 0 && !this.stop.signal.aborted) this.startSender();
      });
  }

  /**
   * Stops taking items and waits up to `timeoutMs` for the queue to empty; then aborts the attempt under way and
   * drops what is left. Resolves to the number of items dropped that way.
   */
  async close(timeoutMs: number): Promise<number> {
    this.closed = true;
    if (this.sending) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([this.sending, timedOut]);
      clearTimeout(timer);
    }
    this.stop.abort();
    const left = this.items.splice(0);
    for (const item of left) this.options.onDropped?.(item);
    await this.sending;
    return left.length;
  }

  private async sendAll(): Promise<void> {
    while (this.items.length > 0 && !this.stop.signal.aborted) {
      const item = this.items.shift()!;
      this.inFlight = 1;
      try {
        await this.deliver(item);
      } finally {
        this.inFlight = 0;
      }
    }
  }

  private async deliver(item: T): Promise<void> {
    const { retries, attempt, initialBackoffMs, maxBackoffMs } = this.options;
    let reason = '';
    for (let tried = 0; tried <= retries; tried++) {
      if (tried > 0 && !(await this.wait(Math.min(maxBackoffMs, initialBackoffMs * 2 ** (tried - 1))))) break;
      let outcome: AttemptOutcome['outcome'];
      try {
        const result = await attempt(item, this.stop.signal);
        outcome = result.outcome;
        reason = result.reason ?? outcome;
      } catch (error) {
        outcome = 'retry';
        reason = (error as Error).message;
      }
      if (outcome === 'delivered') {
        this.options.onDelivered?.(item);
        return;
      }
      if (outcome === 'reject' || this.stop.signal.aborted) break;
    }
    this.options.onFailed?.(item, this.stop.signal.aborted ? 'shutting down' : reason);
  }

  /** false when the queue was closed meanwhile */
  private wait(ms: number): Promise<boolean> {
    if (this.stop.signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.stop.signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      this.stop.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
