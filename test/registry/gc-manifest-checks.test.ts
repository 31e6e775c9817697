// Manifests GC must be able to trust: a manifest PUT that is refused writes nothing (no blob left behind for a
// collection to find), and what a descriptor declares is what the registry stores.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { clientFor, type Client } from '../support/http.ts';
import {
  blob, imageManifest, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, pushBlob, pushImage, pushManifest, randomBlob, storageSnapshot,
} from '../support/oci.ts';

const user = { name: 'pusher', password: 'manifest-checks-pw' };
let registry: RunningRegistry;
let client: Client;

before(async () => {
  registry = await startRegistry({ users: [user] });
  client = clientFor(registry, user);
});

after(async () => {
  await client?.close();
  await registry?.stop();
});

function errorCode(response: { body: Buffer }): string | undefined {
  return JSON.parse(response.body.toString()).errors?.[0]?.code;
}

describe('manifest checks before anything is written', () => {
  it('refuses a manifest with deeply nested annotations as MANIFEST_INVALID and stores nothing', async () => {
    const config = randomBlob(64);
    const layer = randomBlob(1024);
    await pushBlob(client, 'checks/deep', config);
    await pushBlob(client, 'checks/deep', layer);
    const depth = 50_000;
    const nested = `${'{"a":'.repeat(depth)}"x"${'}'.repeat(depth)}`;
    const plain = imageManifest(config, [layer]).content.toString();
    const body = `${plain.slice(0, -1)},"annotations":${nested}}`;
    const storedBefore = storageSnapshot(registry.storageDir);
    const response = await client.send('PUT', '/v2/checks/deep/manifests/v1', { headers: { 'content-type': OCI_MANIFEST }, body });
    assert.equal(response.status, 400, response.body.toString().slice(0, 300));
    assert.equal(errorCode(response), 'MANIFEST_INVALID');
    assert.deepEqual(storageSnapshot(registry.storageDir), storedBefore, 'the refused manifest left files behind');
    assert.equal((await client.send('GET', '/v2/checks/deep/manifests/v1')).status, 404);
  });

  it('refuses a layer descriptor whose size differs from the stored blob, and accepts the true size', async () => {
    const config = randomBlob(64);
    const layer = randomBlob(1024);
    await pushBlob(client, 'checks/size', config);
    await pushBlob(client, 'checks/size', layer);
    const lying = imageManifest(config, [{ ...layer, size: 1 }]);
    const storedBefore = storageSnapshot(registry.storageDir);
    const response = await client.send('PUT', '/v2/checks/size/manifests/v1', { headers: { 'content-type': OCI_MANIFEST }, body: lying.content });
    assert.equal(response.status, 400, response.body.toString());
    assert.equal(errorCode(response), 'MANIFEST_INVALID');
    assert.match(response.body.toString(), /size/);
    assert.deepEqual(storageSnapshot(registry.storageDir), storedBefore);
    assert.equal((await client.send('GET', `/v2/checks/size/manifests/${lying.digest}`)).status, 404);

    const lyingConfig = imageManifest({ ...config, size: config.size + 1 }, [layer]);
    const configResponse = await client.send('PUT', '/v2/checks/size/manifests/v1', { headers: { 'content-type': OCI_MANIFEST }, body: lyingConfig.content });
    assert.equal(errorCode(configResponse), 'MANIFEST_INVALID');

    await pushManifest(client, 'checks/size', 'v1', imageManifest(config, [layer]));
  });

  it('refuses an index whose child descriptor has another size than the child manifest', async () => {
    const child = await pushImage(client, 'checks/index', 'child', [randomBlob(256)]);
    const index = (size: number) => blob(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size, platform: { architecture: 'amd64', os: 'linux' } }],
    }));
    const response = await client.send('PUT', '/v2/checks/index/manifests/multi', {
      headers: { 'content-type': OCI_INDEX }, body: index(child.size + 7).content,
    });
    assert.equal(response.status, 400, response.body.toString());
    assert.equal(errorCode(response), 'MANIFEST_INVALID');
    await pushManifest(client, 'checks/index', 'multi', index(child.size), OCI_INDEX);
  });

  it('still answers MANIFEST_BLOB_UNKNOWN for a blob that is not there, whatever size it declares', async () => {
    const config = blob(JSON.stringify({ mediaType: OCI_CONFIG }));
    await pushBlob(client, 'checks/unknown', config);
    const response = await client.send('PUT', '/v2/checks/unknown/manifests/v1', {
      headers: { 'content-type': OCI_MANIFEST }, body: imageManifest(config, [randomBlob(10)]).content,
    });
    assert.equal(response.status, 400);
    assert.equal(errorCode(response), 'MANIFEST_BLOB_UNKNOWN');
  });
});
