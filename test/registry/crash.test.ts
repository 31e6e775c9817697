// Crash safety: SIGKILL the server mid-upload, again and again. After every restart no blob may be visible that
// does not hash to its name, and the interrupted upload must resume from the offset the server reports.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { clientFor } from '../support/http.ts';

const ROUNDS = 15;
const BLOB_BYTES = 8 * 1024 * 1024;

function corruptBlobs(storageDir: string): string[] {
  const corrupt: string[] = [];
  const root = join(storageDir, 'blobs');
  for (const algorithm of safeList(root)) {
    for (const prefix of safeList(join(root, algorithm))) {
      for (const hex of safeList(join(root, algorithm, prefix))) {
        const actual = createHash(algorithm).update(readFileSync(join(root, algorithm, prefix, hex))).digest('hex');
        if (actual !== hex) corrupt.push(`${algorithm}:${hex}`);
      }
    }
  }
  return corrupt;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Streams `content` as one PATCH at a slow pace, so the kill lands mid-body. */
function slowPatch(registry: RunningRegistry, location: string, content: Buffer, offset: number): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(`${registry.url}${location}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${content.length - 1}` },
    });
    req.on('error', () => resolve());
    req.on('response', (res) => { res.resume(); res.on('end', resolve); });
    let position = offset;
    const step = 256 * 1024;
    const pump = () => {
      if (position >= content.length) return req.end();
      const ok = req.write(content.subarray(position, position + step));
      position += step;
      if (ok) setTimeout(pump, 2);
      else req.once('drain', pump);
    };
    pump();
  });
}

describe('crash safety', () => {
  const storageDir = mkdtempSync(join(tmpdir(), 'regop-crash-'));
  after(() => rmSync(storageDir, { recursive: true, force: true }));

  it(`leaves no corrupt blob and resumes the upload after ${ROUNDS} SIGKILLs mid-upload`, async () => {
    const content = randomBytes(BLOB_BYTES);
    const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
    let location: string | undefined;
    const offsets: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const registry = await startRegistry({ storageDir });
      const client = clientFor(registry);
      try {
        assert.deepEqual(corruptBlobs(storageDir), [], `corrupt blobs after restart ${round}`);
        let offset = 0;
        if (location) {
          const status = await client.send('GET', location);
          assert.equal(status.status, 204, `session lost after restart ${round}`);
          offset = Number(status.headers.range!.split('-')[1]) + 1;
          if (status.headers.range === '0-0') offset = 0;
        } else {
          location = (await client.send('POST', '/v2/crash/test/blobs/uploads/')).headers.location!;
        }
        offsets.push(offset);
        const upload = slowPatch(registry, location, content, offset);
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 120));
        await registry.kill();
        await upload;
      } finally {
        await client.close();
      }
    }
    const registry = await startRegistry({ storageDir });
    const client = clientFor(registry);
    try {
      assert.deepEqual(corruptBlobs(storageDir), []);
      const status = await client.send('GET', location!);
      const offset = status.headers.range === '0-0' ? 0 : Number(status.headers.range!.split('-')[1]) + 1;
      const rest = content.subarray(offset);
      const put = await client.send('PUT', `${location}?digest=${digest}`, rest.length === 0 ? {} : {
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${content.length - 1}` },
        body: rest,
      });
      assert.equal(put.status, 201, put.body.toString());
      const get = await client.send('GET', `/v2/crash/test/blobs/${digest}`);
      assert.ok(get.body.equals(content), 'resumed blob is not byte-identical');
      assert.ok(offsets.some((o) => o > 0), `no round resumed from a non-zero offset: ${offsets}`);
    } finally {
      await client.close();
      await registry.stop();
    }
  });
});
