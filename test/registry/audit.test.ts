// The audit trail and webhooks against a real registry process with auth: oras pushes, deletes through the API
// and the web UI, failed logins, a GC through the admin API. A receiver on 127.0.0.1 records the CloudEvents; the
// registry's stdout holds the audit lines. A receiver that accepts and never answers costs pushes nothing, and
// what it loses is counted in /metrics, with the queue bounded.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startRegistry, type RunningRegistry, type TestUser } from '../support/registry.ts';
import { clientFor, type Client } from '../support/http.ts';
import { isolatedHome, run, withRegistryLogs } from './tools.ts';

const admin: TestUser = { name: 'admin', password: 'audit-admin-pw-7731' };
const reader: TestUser = { name: 'reader', password: 'audit-reader-pw-4410', access: [{ repositories: ['**'], actions: ['pull'] }] };
const ADMIN_TOKEN = 'audit-admin-token-5528';
const HOOK_TOKEN = 'Bearer hook-token-9034';
const WRONG_PASSWORD = 'wrong-pw-6617';
/** every value that must never reach the audit stream or a log line */
const SECRETS = [admin.password, reader.password, ADMIN_TOKEN, 'hook-token-9034', WRONG_PASSWORD];

interface CloudEventData {
  id: string;
  action: string;
  result: string;
  user: string | null;
  clientAddress: string | null;
  requestId: string | null;
  via: string;
  repository?: string;
  tag?: string;
  digest?: string;
  previousDigest?: string | null;
  mediaType?: string;
  size?: number;
  error?: { code: string; message: string };
  detail?: Record<string, any>;
}

interface ReceivedEvent {
  headers: IncomingHttpHeaders;
  contentType: string | undefined;
  type: string;
  subject?: string;
  specversion: string;
  source: string;
  id: string;
  data: CloudEventData;
}

/** Listens on a free port in 20000-29999, trying another when the one picked is taken. */
async function listenInRange(server: TcpServer): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    server.removeAllListeners('error');
    if (listening) return port;
  }
}

async function freePortInRange(): Promise<number> {
  const probe = createTcpServer();
  const port = await listenInRange(probe);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A webhook receiver that records every CloudEvent posted to it. */
async function startReceiver(): Promise<{ server: Server; url: string; events: ReceivedEvent[] }> {
  const events: ReceivedEvent[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      events.push({ ...body, headers: req.headers, contentType: req.headers['content-type'] });
      res.statusCode = 202;
      res.end();
    });
  });
  const port = await listenInRange(server);
  return { server, url: `http://127.0.0.1:${port}/events`, events };
}

/** A receiver that accepts connections and never answers: each delivery attempt runs into its timeout. */
async function startDeadReceiver(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createTcpServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listenInRange(server);
  return {
    url: `http://127.0.0.1:${port}/events`,
    connections: () => accepted,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** the registry's audit lines: stdout JSON with "logger":"audit" (or those of an audit file) */
function auditLines(registry: RunningRegistry | string): CloudEventData[] {
  return (typeof registry === 'string' ? readFileSync(registry, 'utf8') : registry.logs()).split('\n')
    .filter((line) => line.includes('"logger":"audit"'))
    .map((line) => JSON.parse(line) as CloudEventData);
}

/** the request id of the registry's access-log line for a request (the latest such) */
function requestIdOf(registry: RunningRegistry, method: string, url: string, status: number): string {
  const line = registry.logs().split('\n').findLast((entry) => entry.includes('"msg":"request"') && entry.includes(`"method":"${method}"`)
    && entry.includes(`"url":"${url}"`) && entry.includes(`"status":${status}`));
  assert.ok(line, `no request line for ${method} ${url} ${status}`);
  return JSON.parse(line).reqId;
}

async function metric(registry: RunningRegistry, name: string, endpoint: string): Promise<number> {
  const response = await request(`${registry.url}/metrics`);
  const text = await response.body.text();
  const match = new RegExp(`^${name}\\{endpoint="${endpoint}"\\} (\\d+)`, 'm').exec(text);
  assert.ok(match, `${name}{endpoint="${endpoint}"} missing from /metrics`);
  return Number(match[1]);
}

async function orasPush(registry: RunningRegistry, reference: string, content: string, env: Record<string, string>, work: string): Promise<void> {
  const dir = mkdtempSync(join(work, 'oras-'));
  writeFileSync(join(dir, 'notes.txt'), content);
  await run('oras', ['push', '--plain-http', '-u', admin.name, '-p', admin.password, `${registry.host}/${reference}`, 'notes.txt:text/plain'], { env, cwd: dir });
}

async function manifestDigest(client: Client, repository: string, tag: string): Promise<string> {
  const head = await client.send('HEAD', `/v2/${repository}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(head.status, 200);
  return head.headers['docker-content-digest']!;
}

describe('audit trail and webhooks', () => {
  let work: string;
  let env: Record<string, string>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let registry: RunningRegistry;
  let client: Client;
  const byType = (type: string) => receiver.events.filter((event) => event.type === type);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'regop-audit-'));
    env = isolatedHome();
    receiver = await startReceiver();
    const tokenFile = join(work, 'admin-token');
    writeFileSync(tokenFile, ADMIN_TOKEN);
    const hookTokenFile = join(work, 'hook-token');
    writeFileSync(hookTokenFile, `${HOOK_TOKEN}\n`);
    registry = await startRegistry({
      users: [admin, reader],
      port: await freePortInRange(),
      config: {
        notifications: {
          source: '/test/audit',
          endpoints: [{ name: 'receiver', url: receiver.url, headerFiles: { Authorization: hookTokenFile }, timeout: '5s', retries: 2 }],
        },
      },
      extraArgs: ['--admin-token-file', tokenFile],
    });
    client = clientFor(registry, admin);
  });

  after(async () => {
    await client?.close();
    await registry?.stop();
    receiver?.server.close();
  });

  it('an oras push arrives as manifest.pushed and tag.updated with user, repository, tag, digest, client address and request id', () => withRegistryLogs(registry, async () => {
    await orasPush(registry, 'audit/app:v1', 'first', env, work);
    const first = await manifestDigest(client, 'audit/app', 'v1');
    await waitFor('the push events', () => byType('dev.regop.registry.tag.updated').length === 1);
    const [pushed] = byType('dev.regop.registry.manifest.pushed');
    assert.ok(pushed, 'a manifest.pushed event');
    assert.equal(pushed.contentType, 'application/cloudevents+json; charset=utf-8');
    assert.equal(pushed.headers.authorization, HOOK_TOKEN, 'the header from its file');
    assert.deepEqual([pushed.specversion, pushed.source, pushed.subject, pushed.id], ['1.0', '/test/audit', 'audit/app:v1', pushed.data.id]);
    const { data } = pushed;
    assert.deepEqual([data.action, data.result, data.user, data.repository, data.tag, data.digest, data.clientAddress, data.via],
      ['manifest.push', 'success', 'admin', 'audit/app', 'v1', first, '127.0.0.1', 'api']);
    assert.equal(data.requestId, requestIdOf(registry, 'PUT', '/v2/audit/app/manifests/v1', 201));
    assert.match(data.mediaType ?? '', /^application\/vnd\.oci\.image\.manifest\.v1\+json/);
    assert.ok(data.size! > 0);
    const created = byType('dev.regop.registry.tag.updated')[0]!.data;
    assert.deepEqual([created.tag, created.digest, created.previousDigest], ['v1', first, null]);

    // the tag moves: the event names both digests
    await orasPush(registry, 'audit/app:v1', 'second', env, work);
    const second = await manifestDigest(client, 'audit/app', 'v1');
    await waitFor('the second tag event', () => byType('dev.regop.registry.tag.updated').length === 2);
    const moved = byType('dev.regop.registry.tag.updated')[1]!.data;
    assert.deepEqual([moved.digest, moved.previousDigest], [second, first]);
  }));

  it('deletes give tag.deleted (with the digest the tag named) and manifest.deleted; one without the right gives tag.delete.denied', () => withRegistryLogs(registry, async () => {
    await orasPush(registry, 'audit/app:old', 'to delete', env, work);
    const digest = await manifestDigest(client, 'audit/app', 'old');
    assert.equal((await client.send('DELETE', '/v2/audit/app/manifests/old', { user: reader })).status, 403);
    assert.equal((await client.send('DELETE', '/v2/audit/app/manifests/old')).status, 202);
    await waitFor('the delete events', () => byType('dev.regop.registry.tag.deleted').length === 1 && byType('dev.regop.registry.tag.delete.denied').length === 1);
    const deleted = byType('dev.regop.registry.tag.deleted')[0]!.data;
    assert.deepEqual([deleted.user, deleted.repository, deleted.tag, deleted.digest], ['admin', 'audit/app', 'old', digest]);
    const denied = byType('dev.regop.registry.tag.delete.denied')[0]!;
    assert.deepEqual([denied.data.user, denied.data.result, denied.data.error?.code, denied.subject], ['reader', 'denied', 'DENIED', 'audit/app:old']);

    // the untagged manifest goes too, which leaves its blobs to the GC below
    assert.equal((await client.send('DELETE', `/v2/audit/app/manifests/${digest}`)).status, 202);
    await waitFor('the manifest delete event', () => byType('dev.regop.registry.manifest.deleted').length === 1);
    const manifest = byType('dev.regop.registry.manifest.deleted')[0]!;
    assert.deepEqual([manifest.data.repository, manifest.data.digest, manifest.subject], ['audit/app', digest, `audit/app@${digest}`]);
  }));

  it('a tag deleted in the web UI is audited with via ui', () => withRegistryLogs(registry, async () => {
    await orasPush(registry, 'audit/app:ui', 'deleted in the ui', env, work);
    const digest = await manifestDigest(client, 'audit/app', 'ui');
    const agent = new Agent();
    const cookies = new Map<string, string>();
    const send = async (method: 'GET' | 'POST', path: string, form?: Record<string, string>) => {
      const response = await request(`${registry.url}${path}`, {
        method, dispatcher: agent,
        headers: {
          cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(form ? { body: new URLSearchParams(form).toString() } : {}),
      });
      const setCookie = response.headers['set-cookie'];
      for (const line of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) {
        const pair = line.split(';', 1)[0]!;
        cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
      }
      return { status: response.statusCode, body: await response.body.text() };
    };
    const csrf = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)![1]!;
    try {
      const login = await send('GET', '/ui/login');
      assert.equal((await send('POST', '/ui/login', { _csrf: csrf(login.body), username: admin.name, password: admin.password, next: '/ui/' })).status, 303);
      const confirm = await send('GET', '/ui/r/audit/app/-/tags/ui/delete');
      assert.equal(confirm.status, 200);
      assert.equal((await send('POST', '/ui/r/audit/app/-/tags/ui/delete', { _csrf: csrf(confirm.body) })).status, 303);
    } finally {
      await agent.close();
    }
    await waitFor('the UI delete event', () => byType('dev.regop.registry.tag.deleted').some((event) => event.data.tag === 'ui'));
    const event = byType('dev.regop.registry.tag.deleted').find((candidate) => candidate.data.tag === 'ui')!.data;
    assert.deepEqual([event.user, event.via, event.repository, event.digest, event.clientAddress], ['admin', 'ui', 'audit/app', digest, '127.0.0.1']);
  }));

  it('a failed login gives login.failed naming the user tried, without the password', () => withRegistryLogs(registry, async () => {
    const refused = await client.send('GET', '/v2/', { user: { name: 'admin', password: WRONG_PASSWORD } });
    assert.equal(refused.status, 401);
    await waitFor('the login event', () => byType('dev.regop.registry.login.failed').length === 1);
    const { data } = byType('dev.regop.registry.login.failed')[0]!;
    assert.deepEqual([data.action, data.result, data.user, data.clientAddress, data.detail?.reason], ['login', 'failure', 'admin', '127.0.0.1', 'wrong password']);
    assert.equal(data.requestId, requestIdOf(registry, 'GET', '/v2/', 401));
  }));

  it('a cross-repository mount gives blob.mounted naming its source; a blob delete gives blob.deleted with its size', () => withRegistryLogs(registry, async () => {
    const manifest = (await client.send('GET', '/v2/audit/app/manifests/v1', { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json();
    const layer = manifest.layers[0] as { digest: string; size: number };
    const mounted = await client.send('POST', `/v2/audit/copy/blobs/uploads/?mount=${layer.digest}&from=audit/app`);
    assert.equal(mounted.status, 201);
    assert.equal((await client.send('DELETE', `/v2/audit/copy/blobs/${layer.digest}`)).status, 202);
    await waitFor('the blob events', () => byType('dev.regop.registry.blob.deleted').length === 1);
    const mount = byType('dev.regop.registry.blob.mounted')[0]!.data;
    assert.deepEqual([mount.user, mount.repository, mount.digest, mount.detail?.from], ['admin', 'audit/copy', layer.digest, 'audit/app']);
    const deleted = byType('dev.regop.registry.blob.deleted')[0]!.data;
    assert.deepEqual([deleted.repository, deleted.digest, deleted.size], ['audit/copy', layer.digest, layer.size]);
  }));

  it('a GC through the admin API gives gc.completed with what it deleted and freed; a wrong token gives gc.denied', () => withRegistryLogs(registry, async () => {
    const gc = (token: string) => request(`${registry.url}/admin/v1/gc`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ gracePeriod: '0s' }),
    });
    assert.equal((await gc('not-the-token')).statusCode, 401);
    const response = await gc(ADMIN_TOKEN);
    assert.equal(response.statusCode, 200);
    const report = await response.body.json() as { blobsDeleted: number; bytesFreed: number };
    assert.ok(report.blobsDeleted > 0, 'the deleted tags left blobs to collect');
    await waitFor('the gc events', () => byType('dev.regop.registry.gc.completed').length === 1 && byType('dev.regop.registry.gc.denied').length === 1);
    const { data } = byType('dev.regop.registry.gc.completed')[0]!;
    assert.deepEqual([data.via, data.detail?.blobsDeleted, data.detail?.bytesFreed, data.detail?.dryRun], ['admin', report.blobsDeleted, report.bytesFreed, false]);
    assert.equal(byType('dev.regop.registry.gc.denied')[0]!.data.error?.code, 'UNAUTHORIZED');
  }));

  it('a retention run gives retention.completed naming what it deleted', () => withRegistryLogs(registry, async () => {
    await orasPush(registry, 'audit/app:temp', 'retention deletes this tag', env, work);
    const response = await request(`${registry.url}/admin/v1/retention`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rules: { repositories: { include: ['audit/app'] }, keep: { tags: ['v1'] } } }),
    });
    assert.equal(response.statusCode, 200, await response.body.text());
    await waitFor('the retention event', () => byType('dev.regop.registry.retention.completed').length === 1);
    const { data } = byType('dev.regop.registry.retention.completed')[0]!;
    assert.deepEqual([data.via, data.user, data.detail?.tagsDeleted, data.detail?.dryRun], ['admin', null, 1, false]);
    assert.deepEqual(data.detail?.repositories.map((repository: { name: string; tags: string[] }) => [repository.name, repository.tags]), [['audit/app', ['temp']]]);
  }));

  it('the audit stream on stdout has the same events as the webhook, and no password, token or Authorization value', () => withRegistryLogs(registry, async () => {
    await waitFor('every event delivered', () => receiver.events.length === auditLines(registry).length);
    const lines = auditLines(registry);
    assert.ok(lines.length >= 12, `${lines.length} audit lines`);
    assert.deepEqual(lines.map((line) => line.id).sort(), receiver.events.map((event) => event.data.id).sort());
    for (const line of lines) assert.equal((line as unknown as { logger: string }).logger, 'audit');
    const stream = registry.logs();
    for (const secret of SECRETS) assert.ok(!stream.includes(secret), `a secret (${secret.slice(0, 4)}…) is in the registry's output`);
    assert.ok(!/"authorization"/i.test(lines.map((line) => JSON.stringify(line)).join('\n')), 'no Authorization field in an audit line');
  }));
});

describe('a webhook receiver that never answers', () => {
  const PUSHES = 10;
  const QUEUE = 5;

  it('does not hold up pushes; what it loses is counted as dropped or failed, and the queue stays bounded', async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'regop-audit-dead-'));
    const env = isolatedHome();
    const dead = await startDeadReceiver();
    const auditFile = join(work, 'audit', 'audit.log');
    const withDeadHook = await startRegistry({
      users: [admin],
      port: await freePortInRange(),
      config: { audit: { file: auditFile }, notifications: { endpoints: [{ name: 'dead', url: dead.url, timeout: '2s', retries: 1, queueSize: QUEUE }] } },
    });
    const withoutHook = await startRegistry({ users: [admin], port: await freePortInRange() });
    try {
      await withRegistryLogs(withDeadHook, async () => {
        const pushAll = async (registry: RunningRegistry, check?: () => Promise<void>) => {
          let pushingMs = 0;
          for (let i = 0; i < PUSHES; i++) {
            const started = Date.now();
            await orasPush(registry, `dead/app:v${i}`, `content ${i}`, env, work);
            pushingMs += Date.now() - started;
            await check?.();
          }
          return pushingMs;
        };
        let mostQueued = 0;
        // the same /metrics scrape after each push in both runs, so the times compare
        const withoutMs = await pushAll(withoutHook, async () => void await (await request(`${withoutHook.url}/metrics`)).body.text());
        const withMs = await pushAll(withDeadHook, async () => {
          mostQueued = Math.max(mostQueued, await metric(withDeadHook, 'regop_registry_webhook_queued', 'dead'));
        });
        t.diagnostic(`${PUSHES} oras pushes: ${withoutMs} ms without a webhook, ${withMs} ms with a dead one`);
        assert.ok(dead.connections() > 0, 'the registry did try the receiver');
        assert.ok(mostQueued <= QUEUE + 1, `at most the queue and the one in flight are held (${mostQueued})`);

        // each push gave manifest.push and tag.update: every event is delivered, dropped, failed or still queued
        assert.equal(auditLines(withDeadHook).length, 0, 'with audit.file, no audit line on stdout');
        const lines = auditLines(auditFile);
        assert.equal(lines.filter((line) => line.action === 'manifest.push' && line.result === 'success').length, PUSHES);
        const events = lines.length;
        const counts = async () => ({
          delivered: await metric(withDeadHook, 'regop_registry_webhook_delivered_total', 'dead'),
          dropped: await metric(withDeadHook, 'regop_registry_webhook_dropped_total', 'dead'),
          failed: await metric(withDeadHook, 'regop_registry_webhook_failed_total', 'dead'),
          queued: await metric(withDeadHook, 'regop_registry_webhook_queued', 'dead'),
        });
        let last = await counts();
        await waitFor('the counters to add up', async () => {
          last = await counts();
          return last.dropped + last.failed + last.queued === events;
        }, 10_000).catch(() => assert.fail(`counters do not add up to ${events} events: ${JSON.stringify(last)}`));
        t.diagnostic(`${events} events, once the pushes were done: ${JSON.stringify(last)}`);
        // the one in flight runs into its timeout, is retried once after 1 s, then counts as failed (5 s an event:
        // pushes are far quicker, so the queue fills)
        await waitFor('a failed delivery', async () => (last = await counts()).failed >= 1 && last.dropped + last.failed + last.queued === events, 20_000);
        t.diagnostic(`after the first failed delivery: ${JSON.stringify(last)}`);
        assert.equal(last.delivered, 0);
        assert.ok(last.dropped > 0, `a full queue drops (${JSON.stringify(last)})`);
        assert.match(withDeadHook.logs(), /"endpoint":"dead".*"msg":"webhook queue full: events dropped/);
        assert.doesNotMatch(withDeadHook.logs(), new RegExp(dead.url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')), 'the URL is never logged');
      });
    } finally {
      await withoutHook.stop();
      await withDeadHook.stop();
      await dead.close();
    }
  });
});
