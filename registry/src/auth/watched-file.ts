// A file whose parsed content is kept current. Kubernetes updates a mounted Secret by swapping a symlink, which
// inotify on the file misses, so the file is polled and compared by content hash. A file that fails to parse
// keeps the last good value (and the error is reported without the file's content).
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';

export interface WatchedFileOptions<T> {
  path: string;
  parse(text: string): T;
  intervalMs: number;
  onReload?(value: T): void;
  onError?(error: Error): void;
}

export class WatchedFile<T> {
  private current: T;
  private fingerprint: string;
  private timer: NodeJS.Timeout | undefined;
  private readonly options: WatchedFileOptions<T>;

  private constructor(options: WatchedFileOptions<T>, value: T, fingerprint: string) {
    this.options = options;
    this.current = value;
    this.fingerprint = fingerprint;
  }

  /** Reads and parses the file once (failing loudly), then polls it. */
  static async open<T>(options: WatchedFileOptions<T>): Promise<WatchedFile<T>> {
    const text = await readFile(options.path, 'utf8');
    const watched = new WatchedFile(options, options.parse(text), fingerprintOf(text));
    watched.timer = setInterval(() => void watched.poll(), options.intervalMs);
    watched.timer.unref();
    return watched;
  }

  get value(): T {
    return this.current;
  }

  async poll(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.options.path, 'utf8');
    } catch (error) {
      this.options.onError?.(new Error(`cannot read ${this.options.path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`));
      return;
    }
    const fingerprint = fingerprintOf(text);
    if (fingerprint === this.fingerprint) return;
    try {
      this.current = this.options.parse(text);
      this.fingerprint = fingerprint;
      this.options.onReload?.(this.current);
    } catch (error) {
      this.options.onError?.(new Error(`${this.options.path} not reloaded: ${(error as Error).message}`));
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

function fingerprintOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
