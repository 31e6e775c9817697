import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { WebhookEndpointConfig } from '../config.ts';
import { ConfigError } from '../config.ts';
import { Auditor } from './auditor.ts';
import { Webhooks, type WebhookCounters } from './webhooks.ts';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
}

/** a receiver on a free port in 20000-29999 that answers each POST with the next status of `statuses` (then 204) */
async function receiver(statuses: number[] = []): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      response.statusCode = statuses.shift() ?? 204;
      response.end();
    });
  });
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (listening) return { server, url: `http://127.0.0.1:${port}`, received };
  }
}

function counting(): WebhookCounters & { counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  const add = (key: string) => () => { counts[key] = (counts[key] ?? 0) + 1; };
  return { counts, webhookDelivered: add('delivered'), webhookFailed: add('failed'), webhookDropped: add('dropped') };
}

function memoryLogger(): { logger: pino.Logger; text: () => string } {
  let text = '';
  const stream = new Writable({ write(chunk, _encoding, done) { text += chunk; done(); } });
  return { logger: pino(stream), text: () => text };
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const endpoint = (fields: Partial<WebhookEndpointConfig> & { url: string }): WebhookEndpointConfig => ({
  name: 'hook', headers: {}, headerFiles: {}, events: null, timeoutMs: 2000, retries: 0, queueSize: 10, ...fields,
});

describe('webhooks', () => {
  let target: Awaited<ReturnType<typeof receiver>>;
  const dir = mkdtempSync(join(tmpdir(), 'regop-webhooks-'));
  before(async () => { target = await receiver([400, 503]); });
  after(() => target.server.close());

  it('posts CloudEvents with the configured headers, a header read from its file at each delivery, and only the events asked for', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'Bearer first-token\n');
    const counters = counting();
    const { logger, text } = memoryLogger();
    const webhooks = new Webhooks({
      endpoints: [
        endpoint({ url: `${target.url}/all?key=url-secret`, retries: 1, headers: { 'X-Team': 'web' }, headerFiles: { Authorization: tokenFile } }),
        endpoint({ name: 'logins', url: `${target.url}/logins`, events: ['login'] }),
      ],
      source: '/regop-registry/test',
      counters,
      logger,
    });
    const auditor = new Auditor();
    auditor.attach(webhooks);
    // the receiver answers 400 first (not retried: failed), then 503 (retried after 1 s), then 204s
    auditor.record({ id: 'r1', ip: '10.1.1.1', user: 'ci' }, { action: 'gc' });
    await waitFor('the refusal', () => counters.counts.failed === 1);
    auditor.record({ id: 'r2', ip: '10.1.1.1', user: 'ci' }, { action: 'manifest.push', repository: 'team/app', tag: 'v1' });
    await waitFor('the first event after a retry', () => counters.counts.delivered === 1);
    writeFileSync(tokenFile, 'Bearer rotated-token\n');
    auditor.record({ id: 'r3', ip: '10.1.1.2' }, { action: 'login', result: 'failure', user: 'mallory' });
    await waitFor('both deliveries', () => counters.counts.delivered === 3);

    const byPath = (path: string) => target.received.filter((received) => received.path.startsWith(path));
    const all = byPath('/all');
    assert.deepEqual(all.map((received) => received.body.type), [
      'dev.regop.registry.gc.completed', 'dev.regop.registry.manifest.pushed', 'dev.regop.registry.manifest.pushed', 'dev.regop.registry.login.failed',
    ]);
    assert.equal(all[0]!.headers['content-type'], 'application/cloudevents+json; charset=utf-8');
    assert.equal(all[0]!.headers['x-team'], 'web');
    assert.deepEqual(all.map((received) => received.headers.authorization), ['Bearer first-token', 'Bearer first-token', 'Bearer first-token', 'Bearer rotated-token']);
    const pushed = all[2]!.body;
    assert.equal(pushed.specversion, '1.0');
    assert.equal(pushed.source, '/regop-registry/test');
    assert.equal(pushed.subject, 'team/app:v1');
    assert.equal(pushed.datacontenttype, 'application/json');
    assert.deepEqual([pushed.data.user, pushed.data.clientAddress, pushed.data.requestId, pushed.data.repository], ['ci', '10.1.1.1', 'r2', 'team/app']);
    assert.equal(pushed.id, pushed.data.id);
    assert.deepEqual(byPath('/logins').map((received) => received.body.data.user), ['mallory'], 'the filtered endpoint gets only logins');
    assert.deepEqual(counters.counts, { failed: 1, delivered: 3 });

    await webhooks.close(1000);
    const logs = text();
    assert.match(logs, /"endpoint":"hook"/, 'the failure is logged by endpoint name');
    assert.doesNotMatch(logs, /url-secret|first-token|rotated-token/, 'never the URL or a header value');
  });

  it('refuses to start when a header file cannot be read, naming the file, not its purpose\'s value', () => {
    assert.throws(() => new Webhooks({
      endpoints: [endpoint({ url: target.url, headerFiles: { Authorization: join(dir, 'missing') } })],
      source: 's', counters: counting(), logger: pino({ level: 'silent' }),
    }), (error: Error) => error instanceof ConfigError && /endpoint hook: headerFiles\.Authorization: cannot read .*missing: ENOENT/.test(error.message));
  });
});
