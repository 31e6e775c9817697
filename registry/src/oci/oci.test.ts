import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../errors.ts';
import { digestOf, tryParseDigest } from './digest.ts';
import { isValidRepositoryName, isValidTag } from './names.ts';
import { MediaTypes, parseManifest } from './manifest.ts';

const sha = (c: string) => digestOf(Buffer.from(c));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof RegistryError) return error.descriptor.code;
    throw error;
  }
  return 'no error';
}

describe('digests', () => {
  it('accepts sha256 and sha512 of the right length and nothing else', () => {
    assert.ok(tryParseDigest(sha('a')));
    assert.ok(tryParseDigest(digestOf(Buffer.from('a'), 'sha512')));
    assert.equal(tryParseDigest('sha256:abc'), null);
    assert.equal(tryParseDigest(sha('a').toUpperCase()), null);
    assert.equal(tryParseDigest('md5:d41d8cd98f00b204e9800998ecf8427e'), null);
  });
});

describe('repository names and tags', () => {
  it('follows the distribution spec grammar', () => {
    for (const name of ['library/ubuntu', 'a', 'a-b/c_d/e.f', 'x__y', 'a--b']) assert.ok(isValidRepositoryName(name), name);
    for (const name of ['', 'Upper', '../etc', 'a//b', 'a/', '/a', 'a/../b', '-a', 'a_', 'a/_tags']) {
      assert.equal(isValidRepositoryName(name), false, name);
    }
    assert.ok(isValidTag('v1.2.3-rc_1'));
    assert.equal(isValidTag('.hidden'), false);
    assert.equal(isValidTag('a'.repeat(129)), false);
  });
});

describe('manifest parsing', () => {
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('c'), size: 1 };
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha('l'), size: 1 };

  it('collects the blobs of an image manifest and the children of an index', () => {
    const image = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [layer] })), undefined);
    assert.deepEqual(image.blobs, [config.digest, layer.digest]);
    assert.equal(image.artifactType, config.mediaType);
    const index = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ ...layer, mediaType: MediaTypes.ociManifest }] })), MediaTypes.ociIndex);
    assert.deepEqual(index.manifests, [layer.digest]);
    assert.equal(index.mediaType, MediaTypes.ociIndex);
  });

  it('keeps subject and artifactType for referrers', () => {
    const parsed = parseManifest(Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaTypes.ociManifest, artifactType: 'application/x-sbom',
      config: { ...config, mediaType: MediaTypes.ociEmpty }, layers: [], subject: { ...layer, mediaType: MediaTypes.ociManifest },
    })), MediaTypes.ociManifest);
    assert.equal(parsed.artifactType, 'application/x-sbom');
    assert.equal(parsed.subject?.digest, layer.digest);
  });

  it('does not require non-distributable layers that carry urls', () => {
    const foreign = { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: sha('f'), size: 1, urls: ['https://example.invalid/x'] };
    const parsed = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: [foreign, layer] })), MediaTypes.dockerManifest);
    assert.deepEqual(parsed.blobs, [config.digest, layer.digest]);
  });

  it('rejects what is not a valid manifest with MANIFEST_INVALID', () => {
    const cases: Array<[string, string | undefined]> = [
      ['not json', undefined],
      ['[]', undefined],
      [JSON.stringify({ schemaVersion: 1, name: 'x' }), undefined],
      [JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, config, layers: [] }), MediaTypes.ociManifest],
      [JSON.stringify({ schemaVersion: 2, config: { ...config, digest: 'sha256:bad' }, layers: [] }), MediaTypes.ociManifest],
      [JSON.stringify({ schemaVersion: 2, config }), MediaTypes.ociManifest],
      [JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-unknown' }), undefined],
    ];
    for (const [body, type] of cases) assert.equal(codeOf(() => parseManifest(Buffer.from(body), type)), 'MANIFEST_INVALID', body);
  });
});
