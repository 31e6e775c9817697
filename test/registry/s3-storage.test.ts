// What a registry on S3 storage shows its operator: a bucket it cannot reach makes it unready and /readyz says
// why (never with a credential), until the bucket answers; and with `redirect: true` blob pulls go to the bucket
// itself through a presigned URL, which real clients follow with digests verified.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientFor } from '../support/http.ts';
import { pushImage, randomBlob, sha256 } from '../support/oci.ts';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { startS3Server, type S3Server } from '../support/s3-server.ts';
import { isolatedHome, run, withRegistryLogs } from './tools.ts';

let s3: S3Server;

before(async () => {
  s3 = await startS3Server();
});

after(async () => {
  await s3?.stop();
});

async function readyz(registry: RunningRegistry): Promise<{ status: number; body: string }> {
  const client = clientFor(registry);
  try {
    const reply = await client.send('GET', '/readyz', { user: null });
    return { status: reply.status, body: reply.body.toString('utf8') };
  } finally {
    await client.close();
  }
}

describe('registry on S3: readiness follows the bucket', () => {
  it('is not ready while its bucket is missing, says so without a credential, and becomes ready once it exists', async () => {
    const registry = await startRegistry({ storage: { s3: { server: s3, bucket: 'not-created-yet' } } });
    try {
      await withRegistryLogs(registry, async () => {
        const missing = await readyz(registry);
        assert.equal(missing.status, 503, missing.body);
        assert.match(missing.body, /^not ready\nstorage: S3 bucket not-created-yet at http:\/\/127\.0\.0\.1:\d+: .*404/m);
        assert.ok(!missing.body.includes(s3.secretKey) && !missing.body.includes(s3.accessKey), 'no credential in /readyz');
        assert.match(registry.logs(), /storage unreachable/);
        assert.ok(!registry.logs().includes(s3.secretKey), 'no secret in the log');

        await s3.createBucket('not-created-yet');
        const deadline = Date.now() + 30_000;
        let answer = missing;
        while (answer.status !== 200 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          answer = await readyz(registry);
        }
        assert.equal(answer.status, 200, `ready once the bucket exists: ${answer.body}`);
        const client = clientFor(registry);
        await pushImage(client, 'after/ready', 'v1');
        await client.close();
      });
    } finally {
      await registry.stop();
    }
  });

  it('is not ready with a wrong secret, and names the refusal, not the secret', async () => {
    await s3.createBucket('wrong-secret');
    const wrong = { ...s3, secretKey: `${s3.secretKey.slice(0, -4)}abcd` };
    const registry = await startRegistry({ storage: { s3: { server: wrong, bucket: 'wrong-secret' } } });
    try {
      const answer = await readyz(registry);
      assert.equal(answer.status, 503, answer.body);
      assert.match(answer.body, /storage: S3 bucket wrong-secret at .*(403|SignatureDoesNotMatch|AccessDenied)/);
      assert.ok(!answer.body.includes(wrong.secretKey) && !registry.logs().includes(wrong.secretKey));
    } finally {
      await registry.stop();
    }
  });
});

describe('registry on S3 with redirect: true', () => {
  let registry: RunningRegistry;

  before(async () => {
    await s3.createBucket('redirects');
    registry = await startRegistry({ storage: { s3: { server: s3, bucket: 'redirects', redirect: true } } });
  });

  after(async () => {
    await registry?.stop();
  });

  it('answers a blob GET with 307 to a presigned URL of the bucket, and the bytes come from there', async () => {
    const client = clientFor(registry);
    const layer = randomBlob(300_000);
    await pushImage(client, 'redirected/app', 'v1', [layer]);
    const reply = await client.send('GET', `/v2/redirected/app/blobs/${layer.digest}`);
    assert.equal(reply.status, 307);
    const location = new URL(reply.headers.location!);
    assert.equal(location.origin, s3.endpoint, 'the client is sent to the S3 endpoint');
    assert.match(location.search, /X-Amz-Signature=/);
    const direct = Buffer.from(await (await fetch(location)).arrayBuffer());
    assert.equal(sha256(direct), layer.digest);
    // what is not in the repository is still refused by the registry, not redirected
    const unknown = await client.send('GET', `/v2/redirected/app/blobs/${sha256('nothing')}`);
    assert.equal(unknown.status, 404);
    await client.close();
  });

  it('crane pulls an image through the redirects, digests verified', () => withRegistryLogs(registry, async () => {
    const client = clientFor(registry);
    const layers = [randomBlob(200_000), randomBlob(50_000)];
    await pushImage(client, 'redirected/pulled', 'v1', layers);
    await client.close();
    const out = mkdtempSync(join(tmpdir(), 'regop-redirect-'));
    await run('crane', ['pull', '--insecure', '--format', 'oci', `${registry.host}/redirected/pulled:v1`, out], { env: isolatedHome() });
    for (const layer of layers) {
      const stored = readFileSync(join(out, 'blobs', 'sha256', layer.digest.slice('sha256:'.length)));
      assert.equal(sha256(stored), layer.digest);
    }
  }));
});
