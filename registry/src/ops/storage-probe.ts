// Whether the storage answers, for readiness: an object store can become unreachable, or refuse its credentials,
// while the registry runs. A pod that cannot reach it is taken out of its Service, and /readyz says why.
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage/driver.ts';

export const STORAGE_PROBE_INTERVAL_MS = 10_000;

export class StorageProbe {
  private readonly driver: StorageDriver;
  private readonly logger: Logger;
  private failure: string | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(driver: StorageDriver, logger: Logger) {
    this.driver = driver;
    this.logger = logger;
  }

  /** the storage's last error, one line naming where (never a credential); null while it answers */
  get problem(): string | null {
    return this.failure;
  }

  /** checks now, then every interval; a driver with nothing to check (a directory) is always reachable */
  async start(intervalMs = STORAGE_PROBE_INTERVAL_MS): Promise<void> {
    if (!this.driver.check) return;
    await this.checkNow();
    this.timer = setInterval(() => void this.checkNow(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async checkNow(): Promise<void> {
    try {
      await this.driver.check?.();
      if (this.failure) this.logger.info({ previous: this.failure }, 'storage reachable again');
      this.failure = null;
    } catch (error) {
      const message = `storage: ${error instanceof Error ? error.message : String(error)}`;
      if (message !== this.failure) this.logger.error({ problem: message }, 'storage unreachable: not ready');
      this.failure = message;
    }
  }
}
