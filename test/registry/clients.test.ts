// The real clients people use, against our registry over TLS with auth: podman, buildah, skopeo, oras, crane,
// regctl and helm. Each checks what its user would: the push works, the pull gives the same bytes and digests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { storageSnapshot } from '../support/oci.ts';
import { isolatedHome, run } from './tools.ts';

const user = { name: 'dev', password: 'client-matrix-pw-1' };
let registry: RunningRegistry;
let work: string;
let certDir: string;
let env: Record<string, string>;
let storageFlags: string[];

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** podman and buildah as root here: a private store, cgroupfs, runc, and the ulimits this machine allows */
function containerFlags(): string[] {
  return [...storageFlags, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc'];
}

/** buildah from scratch: one file, committed as an image in the private store; no container is run */
async function buildImage(name: string, content: string): Promise<void> {
  const file = join(work, `${name.replace(/\W/g, '_')}.txt`);
  writeFileSync(file, content);
  const container = (await run('buildah', [...storageFlags, 'from', 'scratch'], { env })).stdout.trim();
  await run('buildah', [...storageFlags, 'copy', container, file, '/payload.txt'], { env });
  await run('buildah', [...storageFlags, 'config', '--label', `built-by=regop-tests`, container], { env });
  await run('buildah', [...storageFlags, 'commit', '-q', container, name], { env });
  await run('buildah', [...storageFlags, 'rm', container], { env });
}

/** An OCI layout dir with an index of two platform images sharing one layer, written by hand. */
function writeMultiArchLayout(dir: string): { indexDigest: string; sharedLayer: string } {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (content: Buffer | string) => {
    const digest = sha256(content);
    writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), content);
    return { digest, size: Buffer.byteLength(content) };
  };
  const shared = put(randomBytes(4096));
  const manifests = ['amd64', 'arm64'].map((architecture) => {
    const own = put(randomBytes(2048));
    const config = put(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const manifest = put(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [shared, own].map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer })),
    }));
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { architecture, os: 'linux' } };
  });
  const index = put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }],
  }));
  return { indexDigest: index.digest, sharedLayer: shared.digest };
}

function storedCopies(digest: string): number {
  const hex = digest.slice('sha256:'.length);
  return Object.keys(storageSnapshot(registry.storageDir)).filter((path) => path.startsWith('blobs/') && path.endsWith(`/${hex}`)).length;
}

before(async () => {
  registry = await startRegistry({ tls: true, users: [user] });
  work = mkdtempSync(join(tmpdir(), 'regop-clients-'));
  certDir = join(work, 'certs');
  mkdirSync(certDir);
  copyFileSync(registry.caFile!, join(certDir, 'ca.crt'));
  env = { ...isolatedHome(), SSL_CERT_FILE: registry.caFile! };
  storageFlags = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs'];
});

after(async () => {
  await registry?.stop();
});

describe('real clients over TLS with auth', () => {
  it('podman logs in, pushes an image buildah built, and pulls it back; buildah pushes too', async () => {
    const host = registry.host;
    await buildImage('localhost/matrix/podman:1', 'from podman');
    await run('podman', [...containerFlags(), 'login', '--cert-dir', certDir, '-u', user.name, '--password-stdin', host], { env, input: user.password });
    await run('podman', [...containerFlags(), 'push', '--cert-dir', certDir, 'localhost/matrix/podman:1', `${host}/matrix/podman:1`], { env });
    await run('podman', [...containerFlags(), 'rmi', 'localhost/matrix/podman:1'], { env });
    await run('podman', [...containerFlags(), 'pull', '--cert-dir', certDir, `${host}/matrix/podman:1`], { env });
    const label = await run('podman', [...containerFlags(), 'image', 'inspect', '--format', '{{index .Labels "built-by"}}', `${host}/matrix/podman:1`], { env });
    assert.equal(label.stdout.trim(), 'regop-tests');

    await buildImage('localhost/matrix/buildah:1', 'from buildah');
    await run('buildah', [...storageFlags, 'push', '--cert-dir', certDir, 'localhost/matrix/buildah:1', `docker://${host}/matrix/buildah:1`], { env });
    const tags = await run('skopeo', ['list-tags', '--cert-dir', certDir, `docker://${host}/matrix/buildah`], { env });
    assert.deepEqual(JSON.parse(tags.stdout).Tags, ['1']);
  });

  it('podman refuses a wrong password', async () => {
    const result = await run('podman', [...containerFlags(), 'login', '--cert-dir', certDir, '-u', user.name, '--password-stdin', registry.host],
      { env: { ...env, REGISTRY_AUTH_FILE: join(work, 'other-auth.json') }, input: 'wrong', allowFailure: true });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /401|unauthorized|invalid username/i);
  });

  it('skopeo copies a multi-arch index both ways with identical digests, storing shared layers once', async () => {
    const source = join(work, 'multi-src');
    const { indexDigest, sharedLayer } = writeMultiArchLayout(source);
    const creds = ['--creds', `${user.name}:${user.password}`];
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-cert-dir', certDir, '--dest-creds', `${user.name}:${user.password}`,
      `oci:${source}:multi`, `docker://${registry.host}/matrix/multi:v1`], { env });
    const inspect = await run('skopeo', ['inspect', '--raw', '--cert-dir', certDir, ...creds, `docker://${registry.host}/matrix/multi:v1`], { env });
    assert.equal(sha256(Buffer.from(inspect.stdout)), indexDigest);
    assert.equal(storedCopies(sharedLayer), 1, 'the layer both platforms share is stored once');
    const back = join(work, 'multi-back');
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--src-cert-dir', certDir, '--src-creds', `${user.name}:${user.password}`,
      `docker://${registry.host}/matrix/multi:v1`, `oci:${back}:multi`], { env });
    const index = JSON.parse(readFileSync(join(back, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, indexDigest);
    for (const file of readdirSync(join(source, 'blobs', 'sha256'))) {
      assert.ok(readFileSync(join(back, 'blobs', 'sha256', file)).equals(readFileSync(join(source, 'blobs', 'sha256', file))), file);
    }
  });

  it('oras pushes and pulls an artifact, attaches a referrer and discovers it', async () => {
    const dir = mkdtempSync(join(work, 'oras-'));
    writeFileSync(join(dir, 'notes.txt'), 'artifact payload');
    writeFileSync(join(dir, 'sbom.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3' }));
    const auth = ['--ca-file', registry.caFile!, '-u', user.name, '-p', user.password];
    const ref = `${registry.host}/matrix/artifact:v1`;
    await run('oras', ['push', ...auth, '--artifact-type', 'application/vnd.regop.test', ref, 'notes.txt:text/plain'], { env, cwd: dir });
    const out = mkdtempSync(join(work, 'oras-out-'));
    await run('oras', ['pull', ...auth, '-o', out, ref], { env });
    assert.equal(readFileSync(join(out, 'notes.txt'), 'utf8'), 'artifact payload');
    await run('oras', ['attach', ...auth, '--artifact-type', 'application/spdx+json', ref, 'sbom.json:application/json'], { env, cwd: dir });
    const discover = await run('oras', ['discover', ...auth, '--format', 'json', ref], { env });
    const found = JSON.parse(discover.stdout);
    const referrers = found.referrers ?? found.manifests ?? [];
    assert.ok(referrers.some((r: { artifactType?: string }) => r.artifactType === 'application/spdx+json'), discover.stdout);
  });

  it('crane copies, lists, digests and deletes', async () => {
    await run('crane', ['auth', 'login', registry.host, '-u', user.name, '--password-stdin'], { env, input: user.password });
    const source = `${registry.host}/matrix/multi:v1`;
    const target = `${registry.host}/matrix/crane:copied`;
    await run('crane', ['copy', source, target], { env });
    assert.deepEqual((await run('crane', ['ls', `${registry.host}/matrix/crane`], { env })).stdout.trim().split('\n'), ['copied']);
    const digest = (await run('crane', ['digest', target], { env })).stdout.trim();
    assert.equal(digest, (await run('crane', ['digest', source], { env })).stdout.trim());
    await run('crane', ['delete', `${registry.host}/matrix/crane@${digest}`], { env });
    assert.equal((await run('crane', ['ls', `${registry.host}/matrix/crane`], { env })).stdout.trim(), '');
  });

  it('regctl lists tags, gets a manifest and a blob byte-identical', async () => {
    await run('regctl', ['registry', 'login', registry.host, '-u', user.name, '--pass-stdin'], { env, input: user.password });
    const tags = await run('regctl', ['tag', 'ls', `${registry.host}/matrix/multi`], { env });
    assert.deepEqual(tags.stdout.trim().split('\n'), ['v1']);
    const manifest = await run('regctl', ['manifest', 'get', '--format', 'raw-body', `${registry.host}/matrix/multi:v1`], { env });
    const index = JSON.parse(manifest.stdout);
    const child = JSON.parse((await run('regctl', ['manifest', 'get', '--format', 'raw-body', `${registry.host}/matrix/multi@${index.manifests[0].digest}`], { env })).stdout);
    const layer = child.layers[0];
    const blob = await run('regctl', ['blob', 'get', `${registry.host}/matrix/multi`, layer.digest], { env });
    assert.equal(blob.stdoutBytes.length, layer.size);
    assert.equal(sha256(blob.stdoutBytes), layer.digest);
  });

  it('helm pushes and pulls an OCI chart', async () => {
    const dir = mkdtempSync(join(work, 'helm-'));
    await run('helm', ['create', 'regop-demo'], { env, cwd: dir });
    await run('helm', ['package', 'regop-demo'], { env, cwd: dir });
    const packaged = join(dir, 'regop-demo-0.1.0.tgz');
    await run('helm', ['registry', 'login', registry.host, '--ca-file', registry.caFile!, '-u', user.name, '--password-stdin'], { env, input: user.password });
    await run('helm', ['push', packaged, `oci://${registry.host}/charts`, '--ca-file', registry.caFile!], { env });
    const out = mkdtempSync(join(work, 'helm-out-'));
    await run('helm', ['pull', `oci://${registry.host}/charts/regop-demo`, '--version', '0.1.0', '--ca-file', registry.caFile!, '-d', out], { env });
    assert.ok(readFileSync(join(out, 'regop-demo-0.1.0.tgz')).equals(readFileSync(packaged)));
  });
});
