import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { postJson } from './maintenance-client.ts';

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('maintenance client', () => {
  it('tries a refused connection again until the registry listens (a Job pod a NetworkPolicy has not admitted yet)', async () => {
    // a free port, closed again: connections to it are refused until the server below listens on it
    const probe = createServer();
    const port = await listen(probe);
    await new Promise((resolve) => probe.close(resolve));
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, auth: req.headers.authorization }));
    });
    const started = setTimeout(() => void listen(server, port), 2500);
    try {
      const answer = await postJson({ url: `http://127.0.0.1:${port}`, token: 't0ken' }, '/admin/v1/gc', {});
      assert.deepEqual(answer, { ok: true, auth: 'Bearer t0ken' });
      assert.equal(requests, 1, 'the request ran more than once');
    } finally {
      clearTimeout(started);
      server.close();
    }
  });

  it('does not send again a request that got an answer, even an error', async () => {
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      res.writeHead(500).end('{"errors":[{"code":"UNKNOWN","message":"backup failed"}]}');
    });
    const port = await listen(server);
    try {
      await assert.rejects(postJson({ url: `http://127.0.0.1:${port}`, token: 't' }, '/admin/v1/backup', {}), /answered 500/);
      assert.equal(requests, 1);
    } finally {
      server.close();
    }
  });
});
