// One GET on a connection of its own, its body read from the socket into one buffer that is reused. Node's streams
// (undici's, and the SDK's through node:http) hand every socket read over as a fresh buffer: at the rate of a blob
// pull that is a GiB a second of memory to allocate, fault in and collect, and V8 answers that much outside its
// heap with collections that mark the whole heap. Measured on one versitygw, in a process holding a registry-sized
// heap: an undici body of 256 MiB took 2.8-3.9 CPU seconds per GiB and streamed at 314-431 MiB/s, the same bytes
// read here (net's `onread` into one buffer) 0.35 s per GiB at 1.4-1.6 GiB/s. S3FileReader reads the bulk of large
// objects this way; small ones come whole from one pooled GET (s3-get.ts).
import { connect as connectTcp, isIP, type OnReadOpts, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';

/** one socket read at most; the bytes of a read stay here until the reader has taken them */
const BUFFER_BYTES = 1024 * 1024;
/** a response head longer than this is no S3 answer */
const MAX_HEAD_BYTES = 64 * 1024;

export interface SocketGetOptions {
  connectTimeoutMs: number;
  /** a response whose next bytes are awaited this long is cut */
  idleTimeoutMs: number;
}

export interface SocketResponse {
  status: number;
  /** names in lower case; a repeated header keeps its first value */
  headers: Record<string, string>;
  body: SocketBody;
}

/**
 * Sends `GET url` with `headers` on a new connection (closed after the answer) and resolves with the answer's
 * status and headers once they are in; the body is read with SocketBody.read.
 */
export function socketGet(url: URL, headers: Record<string, string>, options: SocketGetOptions): Promise<SocketResponse> {
  const body = new SocketBody(url, headers, options);
  return body.response;
}

interface Waiter {
  target: Buffer;
  offset: number;
  length: number;
  resolve(read: number): void;
  reject(error: Error): void;
}

export class SocketBody {
  readonly response: Promise<SocketResponse>;
  private readonly socket: Socket;
  private readonly buffer = Buffer.allocUnsafeSlow(BUFFER_BYTES);
  private readonly idleTimeoutMs: number;
  /** unread body bytes in `buffer` */
  private start = 0;
  private end = 0;
  /** body bytes not yet received; Infinity when the answer gives no length (an error's, read to the close) */
  private unreceived = Infinity;
  private head: Buffer[] | null = [];
  private headBytes = 0;
  private waiter: Waiter | null = null;
  private paused = false;
  private closed = false;
  private error: Error | null = null;
  private answer!: { resolve(response: SocketResponse): void; reject(error: Error): void };

  constructor(url: URL, headers: Record<string, string>, options: SocketGetOptions) {
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.response = new Promise((resolve, reject) => (this.answer = { resolve, reject }));
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const secure = url.protocol === 'https:';
    const port = Number(url.port || (secure ? 443 : 80));
    const onread: OnReadOpts = { buffer: this.buffer, callback: (read: number) => this.received(read) };
    // tls.connect takes `onread` as net.connect does (Node's documentation), which its types do not say
    const tlsOptions: ConnectionOptions & { onread: OnReadOpts } = {
      host, port, ...(isIP(host) ? {} : { servername: host }), ALPNProtocols: ['http/1.1'], onread,
    };
    this.socket = secure ? connectTls(tlsOptions) : connectTcp({ host, port, onread });
    this.socket.setNoDelay(true);
    const connectTimer = setTimeout(() => this.fail(new Error(`no connection to ${url.host} within ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
    this.socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    this.socket.setTimeout(this.idleTimeoutMs, () => this.fail(new Error(`S3 sent nothing for ${this.idleTimeoutMs / 1000} s`)));
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => {
      clearTimeout(connectTimer);
      this.closed = true;
      if (this.head) this.fail(new Error('S3 closed the connection before it answered'));
      else if (this.unreceived !== Infinity && this.unreceived > 0) this.fail(new Error('S3 closed the connection before the end of the body'));
      else this.wake();
    });
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close'];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  }

  /** reads up to `length` body bytes into `target` at `offset`; 0 at the end of the body */
  read(target: Buffer, offset: number, length: number): Promise<number> {
    if (this.error) return Promise.reject(this.error);
    if (this.start < this.end) return Promise.resolve(this.take(target, offset, length));
    if (this.unreceived === 0 || this.closed) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      this.waiter = { target, offset, length, resolve, reject };
      this.resume();
    });
  }

  /** the whole body as text, up to `limit` bytes (an error's XML) */
  async text(limit: number): Promise<string> {
    const chunk = Buffer.alloc(Math.min(limit, BUFFER_BYTES));
    let text = '';
    for (let read = await this.read(chunk, 0, chunk.length); read > 0 && text.length < limit; read = await this.read(chunk, 0, chunk.length)) {
      text += chunk.toString('utf8', 0, read);
    }
    return text;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** called by the socket for each read, into `buffer`; false pauses it (bytes are left for the reader) */
  private received(read: number): boolean {
    let start = 0;
    if (this.head) {
      start = this.headRead(read);
      if (start < 0) return true;
    }
    const end = Math.min(read, start + this.unreceived);
    this.unreceived -= end - start;
    this.start = start;
    this.end = end;
    if (this.waiter && this.start < this.end) {
      const waiter = this.waiter;
      this.waiter = null;
      waiter.resolve(this.take(waiter.target, waiter.offset, waiter.length));
    }
    if (this.unreceived === 0 && this.start === this.end) this.socket.destroy();
    if (this.start < this.end || this.unreceived === 0) {
      this.pause();
      return false;
    }
    return true;
  }

  /** collects the response head; returns where the body starts in this read, or -1 while the head goes on */
  private headRead(read: number): number {
    const head = this.head!;
    head.push(Buffer.from(this.buffer.subarray(0, read)));
    this.headBytes += read;
    const all = Buffer.concat(head, this.headBytes);
    const endOfHead = all.indexOf('\r\n\r\n');
    if (endOfHead < 0) {
      if (this.headBytes > MAX_HEAD_BYTES) this.fail(new Error('S3 sent no response head'));
      return -1;
    }
    this.head = null;
    const [statusLine, ...headerLines] = all.toString('latin1', 0, endOfHead).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      if (colon > 0 && !(name in headers)) headers[name] = line.slice(colon + 1).trim();
    }
    if (!status) {
      this.fail(new Error('S3 sent no HTTP status'));
      return -1;
    }
    const length = headers['content-length'];
    if (length !== undefined && headers['transfer-encoding'] === undefined) this.unreceived = Number(length);
    else if (status < 300) {
      // a chunked body would need decoding: S3 gives every object's GET a length
      this.fail(new Error(`S3 answered a GET with status ${status} and no Content-Length`));
      return -1;
    }
    this.answer.resolve({ status, headers, body: this });
    // the body's first bytes, when this read holds them
    return endOfHead + 4 - (this.headBytes - read);
  }

  private take(target: Buffer, offset: number, length: number): number {
    const taken = this.buffer.copy(target, offset, this.start, Math.min(this.end, this.start + length));
    this.start += taken;
    // the buffer is free: the next read can land while the reader works
    if (this.start === this.end && this.unreceived > 0) this.resume();
    if (this.start === this.end && this.unreceived === 0) this.socket.destroy();
    return taken;
  }

  private pause(): void {
    this.paused = true;
    // a reader taking its time is no stalled S3
    this.socket.setTimeout(0);
  }

  private resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    this.socket.setTimeout(this.idleTimeoutMs);
    this.socket.resume();
  }

  /** the reader's wait ends at the close (0: the body went to its end) */
  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.resolve(0);
  }

  private fail(error: Error): void {
    if (this.error) return;
    this.error = error;
    this.socket.destroy();
    this.answer.reject(error);
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(error);
  }
}
