// A file whose parsed content is kept current. Kubernetes updates a mounted Secret by swapping a symlink, which
// inotify on the file misses, so the file is polled and compared by content hash. A file that cannot be read or
// parsed keeps the last good value. parse() must throw messages that do not quote the file: they are logged.
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';

export interface WatchedFileOptions<T> {
  path: string;
  parse(text: string): T;
  intervalMs: number;
  onReload?(value: T): void;
  /** called once per distinct problem, not on every poll while it lasts */
  onError?(error: Error): void;
}

/** Why the file on disk is not what is served: set while it cannot be read or parsed. */
export interface LoadFailure {
  since: Date;
  /** names the path and what is wrong, never the content */
  message: string;
}

export class WatchedFile<T> {
  private current: T;
  private failure: LoadFailure | undefined;
  private fingerprint: string;
  private rejected: string | undefined;
  private unreadable: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;
  private readonly options: WatchedFileOptions<T>;

  private constructor(options: WatchedFileOptions<T>, value: T, fingerprint: string) {
    this.options = options;
    this.current = value;
    this.fingerprint = fingerprint;
  }

  /** Reads and parses the file once, throwing if that fails (a bad start should be loud), then polls it. */
  static async open<T>(options: WatchedFileOptions<T>): Promise<WatchedFile<T>> {
    const text = await readFile(options.path, 'utf8');
    const watched = new WatchedFile(options, options.parse(text), fingerprintOf(text));
    watched.schedule();
    return watched;
  }

  get value(): T {
    return this.current;
  }

  /** undefined while the file on disk is the one served */
  get loadFailure(): LoadFailure | undefined {
    return this.failure;
  }

  /** Checks the file now; concurrent calls share one check. */
  poll(): Promise<void> {
    this.polling ??= this.check().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  // a timeout re-armed after each check, not an interval: a slow read never overlaps the next one
  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.poll().finally(() => this.schedule()), this.options.intervalMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.options.path, 'utf8');
    } catch (error) {
      const problem = `cannot read ${this.options.path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`;
      if (problem !== this.unreadable) this.report(problem);
      this.unreadable = problem;
      return;
    }
    this.unreadable = undefined;
    const fingerprint = fingerprintOf(text);
    if (fingerprint === this.fingerprint) {
      // back to the content being served (a broken edit reverted): nothing is stale any more
      this.failure = undefined;
      this.rejected = undefined;
      return;
    }
    // a broken version is parsed and reported once, not on every poll until someone fixes it
    if (fingerprint === this.rejected) return;
    let value: T;
    try {
      value = this.options.parse(text);
    } catch (error) {
      this.rejected = fingerprint;
      this.report(`${this.options.path} not reloaded: ${(error as Error).message}`);
      return;
    }
    if (this.closed) return;
    this.current = value;
    this.fingerprint = fingerprint;
    this.failure = undefined;
    this.rejected = undefined;
    this.options.onReload?.(value);
  }

  private report(message: string): void {
    this.failure = { since: this.failure?.since ?? new Date(), message };
    if (!this.closed) this.options.onError?.(new Error(message));
  }
}

function fingerprintOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
