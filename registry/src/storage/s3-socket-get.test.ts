// The S3 driver's GET on a socket of its own, against local HTTP and HTTPS servers: bodies arrive whole and in
// order whatever the pace of the reader, over TLS too; errors and cut connections reach the reader.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { makeTestCertificate } from '../../../test/support/tls.ts';
import { socketGet, type SocketBody } from './s3-socket-get.ts';

const MiB = 1024 * 1024;
/** byte i is i % 251, so a byte out of place shows */
const content = Buffer.from(Array.from({ length: 3 * MiB + 17 }, (_, index) => index % 251));
const options = { connectTimeoutMs: 5000, idleTimeoutMs: 5000 };

function handler(request: IncomingMessage, response: ServerResponse): void {
  if (request.url === '/missing') {
    response.writeHead(404, { 'content-type': 'application/xml' });
    response.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>gone</Message></Error>');
  } else if (request.url === '/chunked') {
    response.writeHead(200);
    response.write('no length');
    response.end();
  } else if (request.url === '/cut') {
    response.writeHead(200, { 'content-length': String(content.length) });
    response.write(content.subarray(0, MiB), () => response.destroy());
  } else {
    const [start, end] = /bytes=(\d+)-(\d+)/.exec(request.headers.range ?? '')?.slice(1).map(Number) ?? [0, content.length - 1];
    response.writeHead(request.headers.range ? 206 : 200, {
      'content-length': String(end! - start! + 1), etag: '"e"', 'x-amz-meta-regop-appended-size': '7',
      ...(request.headers.range ? { 'content-range': `bytes ${start}-${end}/${content.length}` } : {}),
    });
    response.end(content.subarray(start, end! + 1));
  }
}

let http: Server;
let https: Server;
const listening = (server: Server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = (server: Server, path: string, scheme = 'http') => new URL(`${scheme}://localhost:${(server.address() as AddressInfo).port}${path}`);

before(async () => {
  const certificate = makeTestCertificate(['localhost']);
  setDefaultCACertificates([...getCACertificates('default'), certificate.caPem]);
  http = createHttpServer(handler);
  https = createHttpsServer({ cert: certificate.certPem, key: certificate.keyPem }, handler);
  await Promise.all([listening(http), listening(https)]);
});

after(() => {
  http?.close();
  https?.close();
});

async function readAll(body: SocketBody, pieceBytes: number, pauseMs = 0): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (;;) {
    const piece = Buffer.alloc(pieceBytes);
    const read = await body.read(piece, 0, piece.length);
    if (read === 0) return Buffer.concat(pieces);
    pieces.push(piece.subarray(0, read));
    if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

describe('S3 GET on a socket of its own', () => {
  it('reads a body whole and in order, in pieces of any size, over HTTP and HTTPS', async () => {
    for (const [server, scheme] of [[http, 'http'], [https, 'https']] as const) {
      for (const pieceBytes of [1000, MiB, 4 * MiB]) {
        const response = await socketGet(url(server, '/object', scheme), {}, options);
        assert.equal(response.status, 200);
        assert.equal(response.headers.etag, '"e"');
        assert.equal(response.headers['x-amz-meta-regop-appended-size'], '7');
        assert.deepEqual(await readAll(response.body, pieceBytes), content, `${scheme}, pieces of ${pieceBytes}`);
      }
    }
  });

  it('sends the headers given (a range) and keeps the body for a reader that takes its time', async () => {
    const response = await socketGet(url(http, '/object'), { Range: `bytes=${MiB}-${2 * MiB + 4}` }, options);
    assert.equal(response.status, 206);
    assert.equal(response.headers['content-range'], `bytes ${MiB}-${2 * MiB + 4}/${content.length}`);
    assert.deepEqual(await readAll(response.body, 256 * 1024, 20), content.subarray(MiB, 2 * MiB + 5));
  });

  it('gives an error answer\'s body to read', async () => {
    const response = await socketGet(url(http, '/missing'), {}, options);
    assert.equal(response.status, 404);
    assert.match(await response.body.text(16 * 1024), /<Code>NoSuchKey<\/Code>/);
  });

  it('fails the read when the connection is cut before the end of the body', async () => {
    const response = await socketGet(url(http, '/cut'), {}, options);
    await assert.rejects(readAll(response.body, MiB), /before the end of the body/);
  });

  it('refuses a successful answer without a length', async () => {
    await assert.rejects(socketGet(url(http, '/chunked'), {}, options), /no Content-Length/);
  });

  it('fails when nothing listens', async () => {
    const closed = createHttpServer();
    await listening(closed);
    const target = url(closed, '/object');
    closed.close();
    await assert.rejects(socketGet(target, {}, options), /ECONNREFUSED/);
  });
});
