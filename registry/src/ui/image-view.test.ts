import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configView, manifestView, MAX_LISTED, MAX_VALUE_LENGTH } from './image-view.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('ui image view', () => {
  it('lists each platform of an index', () => {
    const view = manifestView({
      manifests: [
        { mediaType: OCI_MANIFEST, digest: digest('a'), size: 500, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: OCI_MANIFEST, digest: digest('b'), size: 501, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    }, OCI_INDEX);
    assert.equal(view.kind, 'index');
    assert.deepEqual(view.manifests.items.map((entry) => entry.platform), ['linux/amd64', 'linux/arm64/v8']);
  });

  it('adds up config and layers as what a pull downloads', () => {
    const view = manifestView({
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest('c'), size: 100 },
      layers: [{ mediaType: 'l', digest: digest('d'), size: 1000 }, { mediaType: 'l', digest: digest('e'), size: 2000 }],
    }, OCI_MANIFEST);
    assert.equal(view.kind, 'image');
    assert.equal(view.imageBytes, 3100);
    assert.equal(view.layers.items.length, 2);
  });

  it('leaves out fields of the wrong type and descriptors with no valid digest', () => {
    const view = manifestView({
      layers: [{ digest: 'javascript:alert(1)', size: 1 }, { digest: digest('a'), size: -1 }, 'x', { digest: digest('b'), size: 5 }],
      annotations: { ok: 'yes', number: 5, nested: { a: 1 } },
      subject: { digest: 'not a digest' },
    }, OCI_MANIFEST);
    assert.deepEqual(view.layers.items.map((layer) => layer.digest), [digest('b')]);
    assert.deepEqual(view.annotations.items, [['ok', { shown: 'yes' }]]);
    assert.equal(view.subject, undefined);
  });

  it('cuts 10,000 annotations to the first ones and says how many more, and long values to their start', () => {
    const annotations: Record<string, string> = { long: 'x'.repeat(MAX_VALUE_LENGTH + 1) };
    for (let i = 0; i < 10_000; i++) annotations[`k${i}`] = 'v';
    const view = manifestView({ annotations }, OCI_MANIFEST);
    assert.equal(view.annotations.items.length, MAX_LISTED);
    assert.equal(view.annotations.more, 10_001 - MAX_LISTED);
    const [, long] = view.annotations.items[0]!;
    assert.equal(long.shown.length, MAX_VALUE_LENGTH + 1);
    assert.equal(long.whole?.length, MAX_VALUE_LENGTH + 1);
  });

  it('reads the config fields people look for', () => {
    const view = configView({
      os: 'linux', architecture: 'arm64', created: '2025-01-01T00:00:00Z',
      config: { Env: ['PATH=/bin', 7], Entrypoint: ['/app'], Cmd: ['--serve'], Labels: { team: 'a' }, ExposedPorts: { '8080/tcp': {} }, User: '1000' },
      history: [{ created_by: 'COPY app /app', empty_layer: false }, { created_by: 'CMD', empty_layer: true }],
    });
    assert.equal(view.platform, 'linux/arm64');
    assert.deepEqual(view.env.items, [{ shown: 'PATH=/bin' }]);
    assert.deepEqual(view.entrypoint, { shown: '["/app"]' });
    assert.deepEqual(view.labels.items, [['team', { shown: 'a' }]]);
    assert.deepEqual(view.exposedPorts.items, ['8080/tcp']);
    assert.deepEqual(view.history.items.map((step) => step.emptyLayer), [false, true]);
  });

  it('shows nothing, and throws nothing, for a config that is no object', () => {
    for (const document of [null, 'text', 42, []]) assert.deepEqual(configView(document).env, { items: [], more: 0 });
  });
});
