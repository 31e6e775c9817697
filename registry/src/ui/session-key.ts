// The key that signs web sessions, kept in storage so that every replica signs and checks with the same one.
// Created on first use with create-if-absent semantics built from write-then-read: the storage drivers have no
// conditional create, so two replicas racing may each write theirs; whichever write landed last is what both read
// again later (a check that fails re-reads the key, at most every few seconds), and they converge on it.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { paths } from '../content/paths.ts';
import { PathNotFoundError, type StorageDriver } from '../storage/driver.ts';

export const SESSION_KEY_PATH = paths.uiSessionKey;
const KEY_BYTES = 32;
/** a cookie that fails its check re-reads the key from storage no more often than this */
const RELOAD_INTERVAL_MS = 5_000;

export class SessionKey {
  private readonly driver: StorageDriver;
  private readonly logger: Logger;
  private key: Buffer | undefined;
  private loading: Promise<Buffer> | undefined;
  private lastLoadAt = 0;

  constructor(driver: StorageDriver, logger: Logger) {
    this.driver = driver;
    this.logger = logger;
  }

  /** the key, read (or created) on first use */
  async current(): Promise<Buffer> {
    if (this.key) return this.key;
    return this.load();
  }

  /** the key last read: only after current() has resolved once (the UI's request hook awaits it) */
  get loaded(): Buffer {
    if (!this.key) throw new Error('session key used before it was loaded');
    return this.key;
  }

  /**
   * Reads the key again, unless it was read moments ago: another replica may have replaced ours in a start-up
   * race. Resolves to whether the key changed.
   */
  async reloadIfStale(): Promise<boolean> {
    if (Date.now() - this.lastLoadAt < RELOAD_INTERVAL_MS) return false;
    const before = this.key;
    const after = await this.load();
    return before !== undefined && !before.equals(after);
  }

  private load(): Promise<Buffer> {
    this.loading ??= this.readOrCreate().then((key) => {
      this.key = key;
      this.lastLoadAt = Date.now();
      return key;
    }).finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async readOrCreate(): Promise<Buffer> {
    const stored = await this.read();
    if (stored?.length === KEY_BYTES) return stored;
    if (stored) this.logger.warn({ path: SESSION_KEY_PATH }, 'the stored web session key is malformed; replacing it (web sessions end)');
    await this.driver.putContent(SESSION_KEY_PATH, randomBytes(KEY_BYTES));
    this.logger.info({ path: SESSION_KEY_PATH }, 'created the web session key');
    const written = await this.read();
    if (written?.length !== KEY_BYTES) throw new Error(`the web session key at ${SESSION_KEY_PATH} could not be read back after writing it`);
    return written;
  }

  private async read(): Promise<Buffer | null> {
    try {
      return await this.driver.getContent(SESSION_KEY_PATH);
    } catch (error) {
      if (error instanceof PathNotFoundError) return null;
      throw error;
    }
  }
}
