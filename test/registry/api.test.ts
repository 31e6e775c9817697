// The registry API as a client sees it, against the real server process with TLS and auth: what works, and
// what bad input gets back (the spec's error code) while storage stays as it was.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { clientFor, type Client } from '../support/http.ts';
import {
  blob, imageManifest, OCI_INDEX, OCI_MANIFEST, pushBlob, pushImage, pushManifest, randomBlob, sha256, storageSnapshot,
} from '../support/oci.ts';

const admin = { name: 'admin', password: 'admin-secret-1' };
const reader = { name: 'reader', password: 'reader-secret-2' };
const pusher = { name: 'pusher', password: 'pusher-secret-3' };

let registry: RunningRegistry;
let client: Client;

function rawRequest(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port: registry.port, method, path, ca: registry.caPem, servername: 'localhost',
      headers: { authorization: `Basic ${Buffer.from(`${admin.name}:${admin.password}`).toString('base64')}` },
    }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function errorCode(response: { json(): any }): string {
  return response.json().errors?.[0]?.code;
}

before(async () => {
  registry = await startRegistry({
    tls: true,
    users: [
      { ...admin },
      { ...reader, access: [{ repositories: ['**'], actions: ['pull'] }] },
      { ...pusher, access: [{ repositories: ['team/**'], actions: ['pull', 'push'] }] },
    ],
  });
  client = clientFor(registry, admin);
});

after(async () => {
  await client?.close();
  await registry?.stop();
});

describe('base and auth', () => {
  it('challenges anonymous clients with Basic and accepts the right password', async () => {
    const anonymous = await client.send('GET', '/v2/', { user: null });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers['www-authenticate'] ?? '', /^Basic realm="regop"/);
    assert.equal(errorCode(anonymous), 'UNAUTHORIZED');
    const ok = await client.send('GET', '/v2/');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  it('answers HEAD /v2/ like GET: the challenge without credentials, 200 with them', async () => {
    const anonymous = await client.send('HEAD', '/v2/', { user: null });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers['www-authenticate'] ?? '', /^Basic realm="regop"/);
    const ok = await client.send('HEAD', '/v2/');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.equal(ok.body.length, 0);
  });

  it('refuses a wrong password with UNAUTHORIZED', async () => {
    const response = await client.send('GET', '/v2/', { user: { name: 'admin', password: 'wrong' } });
    assert.equal(response.status, 401);
    assert.equal(errorCode(response), 'UNAUTHORIZED');
  });

  it('denies a user without push rights, and one without delete rights, leaving storage unchanged', async () => {
    const image = await pushImage(client, 'team/app', 'v1');
    const before = storageSnapshot(registry.storageDir);
    const push = await client.send('POST', '/v2/team/app/blobs/uploads/', { user: reader });
    assert.equal(push.status, 403);
    assert.equal(errorCode(push), 'DENIED');
    const outside = await client.send('POST', '/v2/other/blobs/uploads/', { user: pusher });
    assert.equal(outside.status, 403);
    const del = await client.send('DELETE', `/v2/team/app/manifests/${image.digest}`, { user: pusher });
    assert.equal(del.status, 403);
    assert.equal(errorCode(del), 'DENIED');
    assert.deepEqual(storageSnapshot(registry.storageDir), before);
    const pull = await client.send('GET', '/v2/team/app/manifests/v1', { user: reader, headers: { accept: OCI_MANIFEST } });
    assert.equal(pull.status, 200);
  });

  it('lists only repositories the caller may pull in the catalog', async () => {
    await pushImage(client, 'private/thing', 'v1');
    const asPusher = (await client.send('GET', '/v2/_catalog', { user: pusher })).json();
    assert.ok(asPusher.repositories.includes('team/app'));
    assert.ok(!asPusher.repositories.includes('private/thing'));
    const asAdmin = (await client.send('GET', '/v2/_catalog')).json();
    assert.ok(asAdmin.repositories.includes('private/thing'));
  });
});

describe('blob uploads', () => {
  it('uploads monolithically and serves the blob with digest, length and ranges', async () => {
    const content = randomBlob(100_000);
    await pushBlob(client, 'blobs/mono', content);
    const head = await client.send('HEAD', `/v2/blobs/mono/blobs/${content.digest}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(content.size));
    assert.equal(head.headers['docker-content-digest'], content.digest);
    const get = await client.send('GET', `/v2/blobs/mono/blobs/${content.digest}`);
    assert.ok(get.body.equals(content.content));
    const range = await client.send('GET', `/v2/blobs/mono/blobs/${content.digest}`, { headers: { range: 'bytes=10-19' } });
    assert.equal(range.status, 206);
    assert.equal(range.headers['content-range'], `bytes 10-19/${content.size}`);
    assert.ok(range.body.equals(content.content.subarray(10, 20)));
    const bad = await client.send('GET', `/v2/blobs/mono/blobs/${content.digest}`, { headers: { range: 'bytes=200000-' } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], `bytes */${content.size}`);
  });

  it('ignores a Range it cannot use (another unit, bad syntax, last before first) and sends the whole blob', async () => {
    const content = randomBlob(5000);
    await pushBlob(client, 'blobs/ranges', content);
    for (const range of ['items=0-9', 'bytes=abc', 'bytes=9-3', 'bytes=-', 'bytes 0-9', 'bytes=0-1,5-6']) {
      const response = await client.send('GET', `/v2/blobs/ranges/blobs/${content.digest}`, { headers: { range } });
      assert.equal(response.status, 200, range);
      assert.ok(response.body.equals(content.content), range);
    }
  });

  it('serves multi-MiB blobs byte for byte to concurrent pulls, also after a client hung up mid-download', async () => {
    // larger than the sender's 1 MiB read buffers, with a short last one; buffers are reused across responses
    const blobs = [randomBlob(5 * 1024 * 1024 + 12_345), randomBlob(3 * 1024 * 1024 + 7)];
    for (const content of blobs) await pushBlob(client, 'blobs/large', content);
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest({
        host: '127.0.0.1', port: registry.port, path: `/v2/blobs/large/blobs/${blobs[0]!.digest}`, ca: registry.caPem,
        servername: 'localhost', headers: { authorization: `Basic ${Buffer.from(`${admin.name}:${admin.password}`).toString('base64')}` },
      }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (error) => (req.destroyed ? resolve() : reject(error)));
      req.end();
    });
    const pulls = await Promise.all([...blobs, ...blobs, ...blobs].map(async (content) => {
      const response = await client.send('GET', `/v2/blobs/large/blobs/${content.digest}`);
      return { expected: content.digest, got: sha256(response.body), status: response.status };
    }));
    for (const pull of pulls) assert.deepEqual(pull, { expected: pull.expected, got: pull.expected, status: 200 });
    const tail = await client.send('GET', `/v2/blobs/large/blobs/${blobs[0]!.digest}`, { headers: { range: 'bytes=1048570-2097160' } });
    assert.equal(tail.status, 206);
    assert.ok(tail.body.equals(blobs[0]!.content.subarray(1_048_570, 2_097_161)));
  });

  it('uploads in chunks and reports progress with Range', async () => {
    const content = randomBlob(300_000);
    const start = await client.send('POST', '/v2/blobs/chunked/blobs/uploads/');
    assert.equal(start.status, 202);
    assert.ok(start.headers['docker-upload-uuid']);
    let location = start.headers.location!;
    for (let offset = 0; offset < content.size; offset += 100_000) {
      const chunk = content.content.subarray(offset, offset + 100_000);
      const patch = await client.send('PATCH', location, {
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
        body: chunk,
      });
      assert.equal(patch.status, 202);
      assert.equal(patch.headers.range, `0-${offset + chunk.length - 1}`);
      location = patch.headers.location!;
    }
    const status = await client.send('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, `0-${content.size - 1}`);
    const put = await client.send('PUT', `${location}?digest=${content.digest}`);
    assert.equal(put.status, 201);
    assert.equal(put.headers['docker-content-digest'], content.digest);
    const get = await client.send('GET', `/v2/blobs/chunked/blobs/${content.digest}`);
    assert.ok(get.body.equals(content.content));
  });

  it('accepts sha512 digests', async () => {
    const content = randomBlob(5000);
    const digest = `sha512:${createHash('sha512').update(content.content).digest('hex')}`;
    const put = await client.send('POST', `/v2/blobs/sha512/blobs/uploads/?digest=${digest}`, { body: content.content, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 201);
    const get = await client.send('GET', `/v2/blobs/sha512/blobs/${digest}`);
    assert.ok(get.body.equals(content.content));
  });

  it('rejects a wrong digest on close with DIGEST_INVALID and makes no blob visible', async () => {
    const content = randomBlob(10_000);
    const wrong = sha256('something else');
    const before = storageSnapshot(registry.storageDir);
    const start = await client.send('POST', '/v2/blobs/wrong/blobs/uploads/');
    const put = await client.send('PUT', `${start.headers.location}?digest=${wrong}`, {
      headers: { 'content-type': 'application/octet-stream' }, body: content.content,
    });
    assert.equal(put.status, 400);
    assert.equal(errorCode(put), 'DIGEST_INVALID');
    for (const digest of [wrong, content.digest]) {
      assert.equal((await client.send('HEAD', `/v2/blobs/wrong/blobs/${digest}`)).status, 404);
    }
    const blobsBefore = Object.keys(before).filter((p) => p.startsWith('blobs/'));
    const blobsAfter = Object.keys(storageSnapshot(registry.storageDir)).filter((p) => p.startsWith('blobs/'));
    assert.deepEqual(blobsAfter, blobsBefore);
  });

  it('leaves no upload session behind when a monolithic upload has the wrong digest', async () => {
    const sessions = () => Object.keys(storageSnapshot(registry.storageDir)).filter((p) => p.startsWith('uploads/'));
    const before = sessions();
    const content = randomBlob(20_000);
    const post = await client.send('POST', `/v2/blobs/wrong/blobs/uploads/?digest=${sha256('something else')}`, {
      headers: { 'content-type': 'application/octet-stream' }, body: content.content,
    });
    assert.equal(post.status, 400);
    assert.equal(errorCode(post), 'DIGEST_INVALID');
    assert.deepEqual(sessions(), before);
  });

  it('answers an out-of-order chunk with 416 and keeps the bytes already received', async () => {
    const start = await client.send('POST', '/v2/blobs/order/blobs/uploads/');
    const location = start.headers.location!;
    await client.send('PATCH', location, { headers: { 'content-range': '0-9', 'content-type': 'application/octet-stream' }, body: Buffer.alloc(10, 1) });
    const gap = await client.send('PATCH', location, { headers: { 'content-range': '20-29', 'content-type': 'application/octet-stream' }, body: Buffer.alloc(10, 2) });
    assert.equal(gap.status, 416);
    assert.equal(errorCode(gap), 'RANGE_INVALID');
    const status = await client.send('GET', location);
    assert.equal(status.headers.range, '0-9');
  });

  it('rejects a chunk whose length differs from its Content-Range with SIZE_INVALID', async () => {
    const start = await client.send('POST', '/v2/blobs/size/blobs/uploads/');
    const location = start.headers.location!;
    const response = await client.send('PATCH', location, {
      headers: { 'content-range': '0-99', 'content-type': 'application/octet-stream' }, body: Buffer.alloc(50),
    });
    assert.equal(response.status, 400);
    assert.equal(errorCode(response), 'SIZE_INVALID');
    assert.equal((await client.send('GET', location)).headers.range, '0-0');
  });

  it('keeps no partial blob when a client disconnects mid-upload, and the session can be restarted', async () => {
    const content = randomBlob(200_000);
    const before = Object.keys(storageSnapshot(registry.storageDir)).filter((p) => p.startsWith('blobs/'));
    await new Promise<void>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: registry.port, ca: registry.caPem!, servername: 'localhost' }, () => {
        socket.write(
          `POST /v2/blobs/truncated/blobs/uploads/?digest=${content.digest} HTTP/1.1\r\nHost: localhost\r\n` +
          `Authorization: Basic ${Buffer.from(`${admin.name}:${admin.password}`).toString('base64')}\r\n` +
          `Content-Type: application/octet-stream\r\nContent-Length: ${content.size}\r\n\r\n`,
        );
        socket.write(content.content.subarray(0, 50_000), () => setTimeout(() => { socket.destroy(); resolve(); }, 100));
      });
      socket.on('error', reject);
    });
    assert.equal((await client.send('HEAD', `/v2/blobs/truncated/blobs/${content.digest}`)).status, 404);
    const after = Object.keys(storageSnapshot(registry.storageDir)).filter((p) => p.startsWith('blobs/'));
    assert.deepEqual(after, before);
    await pushBlob(client, 'blobs/truncated', content);
    assert.ok((await client.send('GET', `/v2/blobs/truncated/blobs/${content.digest}`)).body.equals(content.content));
  });

  it('answers an unknown upload session with BLOB_UPLOAD_UNKNOWN', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', '..%2F..%2Fetc']) {
      const response = await client.send('PATCH', `/v2/blobs/x/blobs/uploads/${id}`, { body: 'x', headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(response.status, 404, id);
      assert.equal(errorCode(response), 'BLOB_UPLOAD_UNKNOWN', id);
    }
  });

  it('cancels a session with DELETE', async () => {
    const start = await client.send('POST', '/v2/blobs/cancel/blobs/uploads/');
    assert.equal((await client.send('DELETE', start.headers.location!)).status, 204);
    assert.equal((await client.send('GET', start.headers.location!)).status, 404);
  });

  it('mounts a blob from another repository the caller may pull, storing it once', async () => {
    const content = randomBlob(2048);
    await pushBlob(client, 'mount/source', content);
    const mount = await client.send('POST', `/v2/mount/target/blobs/uploads/?mount=${content.digest}&from=mount/source`);
    assert.equal(mount.status, 201);
    assert.equal(mount.headers.location, `/v2/mount/target/blobs/${content.digest}`);
    const fallback = await client.send('POST', `/v2/mount/other/blobs/uploads/?mount=${content.digest}&from=mount/nowhere`);
    assert.equal(fallback.status, 202);
    const hex = content.digest.slice('sha256:'.length);
    const copies = Object.keys(storageSnapshot(registry.storageDir)).filter((p) => p.startsWith('blobs/') && p.endsWith(hex));
    assert.equal(copies.length, 1);
  });

  it('stores a blob once when two clients upload it at the same time', async () => {
    const content = randomBlob(500_000);
    await Promise.all([pushBlob(client, 'race/a', content), pushBlob(client, 'race/b', content)]);
    for (const name of ['race/a', 'race/b']) {
      assert.ok((await client.send('GET', `/v2/${name}/blobs/${content.digest}`)).body.equals(content.content));
    }
  });

  it('does not serve a blob in a repository it was never pushed to', async () => {
    const content = randomBlob(100);
    await pushBlob(client, 'links/one', content);
    assert.equal((await client.send('GET', `/v2/links/two/blobs/${content.digest}`)).status, 404);
  });
});

describe('manifests, tags and referrers', () => {
  it('pushes and pulls by tag and digest with Docker-Content-Digest', async () => {
    const manifest = await pushImage(client, 'img/app', 'latest');
    for (const reference of ['latest', manifest.digest]) {
      const get = await client.send('GET', `/v2/img/app/manifests/${reference}`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(get.status, 200);
      assert.equal(get.headers['docker-content-digest'], manifest.digest);
      assert.equal(get.headers['content-type'], OCI_MANIFEST);
      assert.ok(get.body.equals(manifest.content));
      const head = await client.send('HEAD', `/v2/img/app/manifests/${reference}`);
      assert.equal(head.headers['content-length'], String(manifest.size));
    }
  });

  it('rejects a manifest naming a missing blob with MANIFEST_BLOB_UNKNOWN and creates no tag', async () => {
    const config = randomBlob(10);
    await pushBlob(client, 'img/missing', config);
    const missingLayer = randomBlob(10);
    const manifest = imageManifest(config, [missingLayer]);
    const response = await client.send('PUT', '/v2/img/missing/manifests/v1', { headers: { 'content-type': OCI_MANIFEST }, body: manifest.content });
    assert.equal(response.status, 400);
    assert.equal(errorCode(response), 'MANIFEST_BLOB_UNKNOWN');
    assert.equal((await client.send('GET', '/v2/img/missing/manifests/v1')).status, 404);
  });

  it('rejects invalid JSON and a wrong media type with MANIFEST_INVALID', async () => {
    const bad = await client.send('PUT', '/v2/img/bad/manifests/v1', { headers: { 'content-type': OCI_MANIFEST }, body: '{not json' });
    assert.equal(errorCode(bad), 'MANIFEST_INVALID');
    const mismatch = await client.send('PUT', '/v2/img/bad/manifests/v1', {
      headers: { 'content-type': OCI_INDEX }, body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }),
    });
    assert.equal(errorCode(mismatch), 'MANIFEST_INVALID');
  });

  it('rejects manifests over 4 MiB with 413', async () => {
    const before = storageSnapshot(registry.storageDir);
    const huge = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { pad: 'x'.repeat(4 * 1024 * 1024) } });
    const response = await client.send('PUT', '/v2/img/huge/manifests/v1', { headers: { 'content-type': OCI_MANIFEST }, body: huge });
    assert.equal(response.status, 413);
    assert.equal(errorCode(response), 'PAYLOAD_TOO_LARGE');
    assert.deepEqual(storageSnapshot(registry.storageDir), before);
  });

  it('rejects invalid repository names with NAME_INVALID and writes nothing', async () => {
    const before = storageSnapshot(registry.storageDir);
    for (const name of ['..%2F..%2Fetc', 'UPPER', 'a//b', 'a/../../b', 'a/./b', '_tags', 'a%00b']) {
      // sent verbatim: URL parsers would resolve the dot segments before they reach the server
      const response = await rawRequest('POST', `/v2/${name}/blobs/uploads/`);
      assert.equal(response.status, 400, name);
      assert.equal(JSON.parse(response.body).errors[0].code, 'NAME_INVALID', name);
    }
    assert.deepEqual(storageSnapshot(registry.storageDir), before);
  });

  it('lists tags with n/last pagination and a Link header', async () => {
    for (const tag of ['a', 'b', 'c', 'd']) await pushImage(client, 'img/tags', tag);
    const first = await client.send('GET', '/v2/img/tags/tags/list?n=2');
    assert.deepEqual(first.json(), { name: 'img/tags', tags: ['a', 'b'] });
    assert.equal(first.headers.link, '</v2/img/tags/tags/list?n=2&last=b>; rel="next"');
    const second = await client.send('GET', '/v2/img/tags/tags/list?n=2&last=b');
    assert.deepEqual(second.json().tags, ['c', 'd']);
    assert.equal((await client.send('GET', '/v2/img/nothing/tags/list')).status, 404);
  });

  it('answers an n that is not a count with 400 PAGINATION_NUMBER_INVALID', async () => {
    await pushImage(client, 'img/paged', 'a');
    for (const path of ['/v2/img/paged/tags/list', '/v2/_catalog']) {
      for (const n of ['-1', 'abc']) {
        const response = await client.send('GET', `${path}?n=${n}`);
        assert.equal(response.status, 400, `${path}?n=${n}`);
        assert.equal(errorCode(response), 'PAGINATION_NUMBER_INVALID', `${path}?n=${n}`);
      }
    }
  });

  it('deletes a tag, then the manifest by digest', async () => {
    const manifest = await pushImage(client, 'img/delete', 'one');
    await pushManifest(client, 'img/delete', 'two', manifest);
    assert.equal((await client.send('DELETE', '/v2/img/delete/manifests/one')).status, 202);
    assert.deepEqual((await client.send('GET', '/v2/img/delete/tags/list')).json().tags, ['two']);
    assert.equal((await client.send('DELETE', `/v2/img/delete/manifests/${manifest.digest}`)).status, 202);
    assert.equal((await client.send('GET', '/v2/img/delete/manifests/two')).status, 404);
    assert.equal((await client.send('GET', `/v2/img/delete/manifests/${manifest.digest}`)).status, 404);
  });

  it('lists referrers with an artifactType filter and returns OCI-Subject on push', async () => {
    const subject = await pushImage(client, 'img/ref', 'v1');
    const empty = blob('{}');
    await pushBlob(client, 'img/ref', empty);
    const refer = (artifactType: string) => blob(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty.digest, size: empty.size },
      layers: [], subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
    }));
    const sbom = refer('application/spdx+json');
    const signature = refer('application/vnd.dev.cosign.artifact.sig.v1+json');
    const pushed = await pushManifest(client, 'img/ref', sbom.digest, sbom);
    assert.equal(pushed.headers['oci-subject'], subject.digest);
    await pushManifest(client, 'img/ref', signature.digest, signature);
    const all = await client.send('GET', `/v2/img/ref/referrers/${subject.digest}`);
    assert.equal(all.headers['content-type'], OCI_INDEX);
    assert.deepEqual(all.json().manifests.map((d: any) => d.digest).sort(), [sbom.digest, signature.digest].sort());
    const filtered = await client.send('GET', `/v2/img/ref/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`);
    assert.equal(filtered.headers['oci-filters-applied'], 'artifactType');
    assert.deepEqual(filtered.json().manifests.map((d: any) => d.digest), [sbom.digest]);
  });

  it('accepts an index only when its children exist', async () => {
    const child = await pushImage(client, 'img/multi', 'amd64');
    const index = blob(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.size, platform: { os: 'linux', architecture: 'amd64' } }],
    }));
    await pushManifest(client, 'img/multi', 'latest', index, OCI_INDEX);
    const orphan = blob(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('nope'), size: 4 }] }));
    const response = await client.send('PUT', '/v2/img/multi/manifests/orphan', { headers: { 'content-type': OCI_INDEX }, body: orphan.content });
    assert.equal(errorCode(response), 'MANIFEST_BLOB_UNKNOWN');
  });
});

describe('operations', () => {
  it('serves health and Prometheus metrics, and logs no credentials', async () => {
    assert.equal((await client.send('GET', '/healthz', { user: null })).status, 200);
    const metrics = (await client.send('GET', '/metrics', { user: null })).body.toString();
    assert.match(metrics, /regop_registry_http_requests_total\{route="manifests",method="PUT",status="201"\}/);
    const stored = Number(/^regop_registry_storage_bytes (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(stored > 1_000_000, `storage bytes ${stored}`);
    const logs = registry.logs();
    assert.match(logs, /"msg":"request"/);
    for (const secret of [admin.password, reader.password, pusher.password, Buffer.from(`${admin.name}:${admin.password}`).toString('base64')]) {
      assert.ok(!logs.includes(secret), 'a credential appears in the logs');
    }
  });
});
