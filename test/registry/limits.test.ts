// What one client can hold on a real registry process: connections, a body it declares but does not send, upload
// sessions, memory while it downloads slowly. Raw sockets, because a well-behaved client cannot drip a body.
// REGOP_TEST_REGISTRY_CLI runs another build's cli (e.g. the previous commit's), to see these tests fail there.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { startRegistry, type RunningRegistry, type StartOptions } from '../support/registry.ts';
import { basicAuth, clientFor, type Client } from '../support/http.ts';
import { pushBlob, randomBlob } from '../support/oci.ts';

const admin = { name: 'admin', password: 'admin-secret-1' };
const reader = { name: 'reader', password: 'reader-secret-2' };
const MAX_CONNECTIONS = 8;
const IDLE_TIMEOUT_MS = 2000;
const MAX_SESSIONS = 3;

let registry: RunningRegistry;
let client: Client;

async function startWithLimits(limits: string, options: StartOptions = {}): Promise<RunningRegistry> {
  const started = await startRegistry({
    ...options,
    ...(process.env.REGOP_TEST_REGISTRY_CLI ? { entryPoint: process.env.REGOP_TEST_REGISTRY_CLI } : {}),
    extraArgs: ['--config', writeConfig(limits)],
  });
  return started;
}

let configs = 0;
function writeConfig(limits: string): string {
  const file = join(process.env.TMPDIR ?? '/tmp', `regop-limits-${process.pid}-${configs++}.yaml`);
  writeFileSync(file, `limits:\n${limits}`);
  return file;
}

/** What a raw connection saw: the bytes the server sent and when the server closed it (ms after `since`). */
interface Observed { text: string; closedAfterMs: number | null }

function observe(socket: Socket, since = Date.now()): { seen: Observed; closed: Promise<Observed> } {
  const seen: Observed = { text: '', closedAfterMs: null };
  const closed = new Promise<Observed>((resolve) => {
    socket.on('data', (data) => (seen.text += data.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      seen.closedAfterMs = Date.now() - since;
      resolve(seen);
    });
  });
  return { seen, closed };
}

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(registry.port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends one request on a kept-alive socket and reads one response with a Content-Length body. */
function exchange(socket: Socket, request: string): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (data: Buffer) => {
      text += data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (text.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve({ status: Number(text.slice(9, 12)), head: text.slice(0, end) });
    };
    const onClose = () => reject(new Error(`connection closed before a response; got ${JSON.stringify(text)}`));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(request);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForLog(running: RunningRegistry, pattern: RegExp, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(running.logs())) {
    if (Date.now() > deadline) assert.fail(`no log line matching ${pattern} in:\n${running.logs()}`);
    await sleep(20);
  }
}

/** Sends a byte every `everyMs` until the socket closes; returns a stop function. */
function drip(socket: Socket, everyMs: number): () => void {
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write('x');
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
  return () => clearInterval(timer);
}

function uploadSessionsOnDisk(): string[] {
  try {
    return readdirSync(join(registry.storageDir, 'uploads'));
  } catch {
    return [];
  }
}

before(async () => {
  registry = await startWithLimits(
    `  maxConnections: ${MAX_CONNECTIONS}\n  idleTimeout: ${IDLE_TIMEOUT_MS / 1000}s\n  maxUploadSessionsPerUser: ${MAX_SESSIONS}\n`,
    { users: [admin, { ...reader, access: [{ repositories: ['**'], actions: ['pull'] }] }] },
  );
  client = clientFor(registry, admin);
});

after(async () => {
  await client?.close();
  await registry?.stop();
});

describe('request bodies nobody may send', () => {
  for (const [method, path] of [
    ['PUT', '/v2/big/blobs/uploads/00000000-0000-4000-8000-000000000000?digest=sha256:' + '0'.repeat(64)],
    ['PATCH', '/v2/big/blobs/uploads/00000000-0000-4000-8000-000000000000'],
    ['POST', '/v2/big/blobs/uploads/?digest=sha256:' + '0'.repeat(64)],
  ] as const) {
    it(`answers an unauthenticated ${method} declaring a 5 GB body with 401 and closes while the client still drips`, async () => {
      const socket = await open();
      const { closed } = observe(socket);
      socket.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 5000000000\r\n\r\n`);
      drip(socket, 200);
      const seen = await Promise.race([closed, sleep(IDLE_TIMEOUT_MS * 3).then(() => null)]);
      socket.destroy();
      assert.ok(seen, 'the server kept the connection open while the client dripped its body');
      assert.match(seen.text, /^HTTP\/1\.1 401 /);
      assert.match(seen.text, /connection: close/i);
      // well before the idle timeout, which a byte every 200 ms never reaches
      assert.ok(seen.closedAfterMs! < IDLE_TIMEOUT_MS, `closed after ${seen.closedAfterMs} ms`);
    });
  }

  it('answers a user without push rights with 403 and closes the connection of the unread body', async () => {
    const socket = await open();
    const { closed } = observe(socket);
    socket.write(`PATCH /v2/big/blobs/uploads/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\n` +
      `Authorization: ${basicAuth(reader.name, reader.password)}\r\nContent-Length: 5000000000\r\n\r\n`);
    drip(socket, 200);
    const seen = await Promise.race([closed, sleep(IDLE_TIMEOUT_MS * 3).then(() => null)]);
    socket.destroy();
    assert.ok(seen, 'the server kept the connection open');
    assert.match(seen.text, /^HTTP\/1\.1 403 /);
    assert.ok(seen.closedAfterMs! < IDLE_TIMEOUT_MS, `closed after ${seen.closedAfterMs} ms`);
  });

  it('cuts an authenticated upload whose body stops arriving after the idle timeout, and logs why', async () => {
    const start = await client.send('POST', '/v2/idle/blobs/uploads/');
    assert.equal(start.status, 202);
    const socket = await open();
    const sentAt = Date.now();
    const { closed } = observe(socket, sentAt);
    socket.write(`PATCH ${start.headers.location} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicAuth(admin.name, admin.password)}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n${'x'.repeat(1000)}`);
    const seen = await Promise.race([closed, sleep(IDLE_TIMEOUT_MS * 4).then(() => null)]);
    socket.destroy();
    assert.ok(seen, `an idle body kept its connection for ${IDLE_TIMEOUT_MS * 4} ms`);
    assert.ok(seen.closedAfterMs! >= IDLE_TIMEOUT_MS - 100, `cut too early, after ${seen.closedAfterMs} ms`);
    // the server logs before it cuts the connection, but its output reaches this process through a pipe that
    // may be read after the socket's close
    await waitForLog(registry, /request body idle; connection closed/);
    // the session survives, without the partial chunk, so the client can retry it
    const status = await client.send('GET', start.headers.location!);
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, '0-0');
    await client.send('DELETE', start.headers.location!);
  });

  it('lets an authenticated body that keeps arriving take longer than the idle timeout', async () => {
    const start = await client.send('POST', '/v2/slow/blobs/uploads/');
    const socket = await open();
    const chunks = 8;
    const response = exchange(socket, `PATCH ${start.headers.location} HTTP/1.1\r\nHost: x\r\n` +
      `Authorization: ${basicAuth(admin.name, admin.password)}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${chunks}\r\n\r\n`);
    for (let i = 0; i < chunks; i++) {
      await sleep(IDLE_TIMEOUT_MS / 2);
      socket.write('y');
    }
    assert.equal((await response).status, 202);
    socket.destroy();
    await client.send('DELETE', start.headers.location!);
  });
});

describe('connection cap', () => {
  it('refuses connections beyond limits.maxConnections while an open authenticated connection keeps working', async () => {
    // the shared client's kept-alive connections would take slots
    await client.close();
    client = clientFor(registry, admin);
    await sleep(200);
    const authorized = await open();
    const request = `GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicAuth(admin.name, admin.password)}\r\n\r\n`;
    assert.equal((await exchange(authorized, request)).status, 200);
    const idle: Socket[] = [];
    for (let i = 1; i < MAX_CONNECTIONS; i++) idle.push(await open());
    await sleep(200);
    try {
      const extra = await open();
      const { closed } = observe(extra);
      extra.write(request);
      const seen = await Promise.race([closed, sleep(3000).then(() => null)]);
      extra.destroy();
      assert.ok(seen, 'a connection over the cap was served');
      assert.equal(seen.text, '', 'a connection over the cap got an answer');
      assert.equal((await exchange(authorized, request)).status, 200);
      // the log line travels through a pipe that may be read after the answer on the socket
      await waitForLog(registry, /connection limit reached/);
    } finally {
      for (const socket of idle) socket.destroy();
      authorized.destroy();
    }
    await sleep(200);
    const again = await open();
    assert.equal((await exchange(again, request)).status, 200);
    again.destroy();
  });
});

describe('upload sessions', () => {
  it('deletes the session of a monolithic upload whose digest is wrong', async () => {
    const before = uploadSessionsOnDisk();
    const content = randomBlob(50_000);
    const response = await client.send('POST', `/v2/mono/bad/blobs/uploads/?digest=sha256:${'1'.repeat(64)}`, {
      headers: { 'content-type': 'application/octet-stream' }, body: content.content,
    });
    assert.equal(response.status, 400);
    assert.equal(response.json().errors[0].code, 'DIGEST_INVALID');
    assert.deepEqual(uploadSessionsOnDisk(), before);
  });

  it('answers 429 TOOMANYREQUESTS past limits.maxUploadSessionsPerUser; finishing or cancelling one frees a slot', async () => {
    const locations: string[] = [];
    // failed monolithic uploads hold no slot
    for (let i = 0; i < MAX_SESSIONS + 1; i++) {
      await client.send('POST', `/v2/cap/blobs/uploads/?digest=sha256:${'2'.repeat(64)}`, { body: 'x', headers: { 'content-type': 'application/octet-stream' } });
    }
    for (let i = 0; i < MAX_SESSIONS; i++) {
      const start = await client.send('POST', '/v2/cap/blobs/uploads/');
      assert.equal(start.status, 202, `session ${i + 1}`);
      locations.push(start.headers.location!);
    }
    const refused = await client.send('POST', '/v2/cap/blobs/uploads/');
    assert.equal(refused.status, 429);
    assert.equal(refused.json().errors[0].code, 'TOOMANYREQUESTS');
    assert.match(refused.json().errors[0].message, /upload sessions.*limit 3/);
    // a monolithic push needs a session too
    const content = randomBlob(100);
    const monolithic = await client.send('POST', `/v2/cap/blobs/uploads/?digest=${content.digest}`, {
      body: content.content, headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(monolithic.status, 429);

    assert.equal((await client.send('DELETE', locations.pop()!)).status, 204);
    const afterCancel = await client.send('POST', '/v2/cap/blobs/uploads/');
    assert.equal(afterCancel.status, 202);
    const finished = await client.send('PUT', `${afterCancel.headers.location}?digest=${content.digest}`, {
      body: content.content, headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(finished.status, 201);
    await pushBlob(client, 'cap', randomBlob(100));
    for (const location of locations) await client.send('DELETE', location);
  });
});

describe('slow downloads', () => {
  it('pins at most about one buffer per client that stops reading a blob (50 anonymous readers)', async () => {
    const server = await startWithLimits('  idleTimeout: 0s\n', { users: [admin], anonymousPull: true });
    const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))![1]) / 1024;
    const sockets: Socket[] = [];
    try {
      const owner = clientFor(server, admin);
      const content = randomBlob(64 * 1024 * 1024);
      await pushBlob(owner, 'big/blob', content);
      assert.equal((await owner.send('GET', `/v2/big/blob/blobs/${content.digest}`, { user: null })).status, 200);
      await owner.close();
      await sleep(1000);
      const before = rssMiB();
      for (let i = 0; i < 50; i++) {
        const socket = connect(server.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write(`GET /v2/big/blob/blobs/${content.digest} HTTP/1.1\r\nHost: x\r\n\r\n`);
        socket.once('data', () => socket.pause());
        sockets.push(socket);
      }
      let peak = before;
      for (let i = 0; i < 10; i++) {
        await sleep(500);
        peak = Math.max(peak, rssMiB());
      }
      // four 1 MiB buffers and more per reader before; the kernel's socket buffers are not in RSS
      assert.ok(peak - before < 75, `RSS grew from ${Math.round(before)} to ${Math.round(peak)} MiB with 50 stalled readers`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await server.stop();
    }
  });
});
