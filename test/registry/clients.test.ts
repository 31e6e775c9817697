// The real clients people use, against our registry over TLS with auth: podman, buildah, skopeo, oras, crane,
// regctl and helm. Each checks what its user would: the push works, the pull gives the same bytes and digests.
// Trust is real verification against the test CA (cert dirs, --ca-file, SSL_CERT_FILE); every tool gets a HOME,
// auth file and container store of its own under a temp dir, and no container is ever run.
// The matrix runs on a registry storing in a directory, and on one storing in an S3 bucket (a real S3 server).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../support/registry.ts';
import { storageSnapshot } from '../support/oci.ts';
import { startS3Server } from '../support/s3-server.ts';
import { isolatedHome, run, withRegistryLogs } from './tools.ts';
import { ContainerTools } from '../support/containers.ts';

const user = { name: 'dev', password: 'client-matrix-pw-1' };
// set by each matrix's before hook (a file's suites run one after the other)
let registry: RunningRegistry;
let work: string;
let certDir: string;
let env: Record<string, string>;
let tools: ContainerTools;

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

interface Descriptor { mediaType: string; digest: string; size: number; artifactType?: string }
interface Manifest { mediaType?: string; artifactType?: string; config: Descriptor; layers: Descriptor[]; manifests?: Descriptor[] }

/** The manifest bytes the registry serves for a reference (skopeo, verified TLS, with credentials). */
async function rawManifest(reference: string): Promise<Buffer> {
  const result = await run('skopeo', ['inspect', '--raw', '--cert-dir', certDir, '--creds', `${user.name}:${user.password}`,
    `docker://${registry.host}/${reference}`], { env });
  return result.stdoutBytes;
}

/** An OCI layout dir with an index of two platform images sharing one layer, written by hand. */
function writeMultiArchLayout(dir: string): { indexDigest: string; sharedLayer: string; manifestDigests: string[] } {
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
  return { indexDigest: index.digest, sharedLayer: shared.digest, manifestDigests: manifests.map((m) => m.digest) };
}

/** Files in the registry's blob store named by this digest; the one expected is blobs/<alg>/<xx>/<hex>. */
function storedCopies(digest: string): string[] {
  const hex = digest.slice('sha256:'.length);
  return Object.keys(storageSnapshot(registry.storageDir))
    .filter((path) => path.startsWith('blobs/') && path.split('/').pop() === hex);
}

function assertStoredOnce(digest: string, what: string): void {
  const hex = digest.slice('sha256:'.length);
  assert.deepEqual(storedCopies(digest), [`blobs/sha256/${hex.slice(0, 2)}/${hex}`], `${what} (${digest}) is stored exactly once`);
}

let multiArch: ReturnType<typeof writeMultiArchLayout> & { dir: string };

/**
 * Registers the client matrix against the registry `start` gives (TLS, the test user), with what stops its storage
 * when there is any; each tool starts with fresh local state.
 */
function clientMatrix(start: () => Promise<{ registry: RunningRegistry; stopStorage?: () => Promise<void> }>): void {
  let stopStorage: (() => Promise<void>) | undefined;
  before(async () => {
    ({ registry, stopStorage } = await start());
    work = mkdtempSync(join(tmpdir(), 'regop-clients-'));
    certDir = join(work, 'certs');
    mkdirSync(certDir);
    copyFileSync(registry.caFile!, join(certDir, 'ca.crt'));
    env = { ...isolatedHome(), SSL_CERT_FILE: registry.caFile! };
    tools = new ContainerTools(work, env);
    const dir = join(work, 'multi-src');
    multiArch = { dir, ...writeMultiArchLayout(dir) };
  });

  after(async () => {
    await registry?.stop();
    await stopStorage?.();
    for (const dir of [work, env?.HOME]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('podman logs in, pushes an image buildah built, and pulls it back with the same digest', () => withRegistryLogs(registry, async () => {
    const host = registry.host;
    await tools.buildImage('localhost/matrix/podman:1', 'from podman', { label: 'built-by=regop-tests' });
    await tools.podman(['login', '--cert-dir', certDir, '-u', user.name, '--password-stdin', host], { input: user.password });
    const digestFile = join(work, 'podman.digest');
    await tools.podman(['push', '--cert-dir', certDir, '--digestfile', digestFile, 'localhost/matrix/podman:1', `${host}/matrix/podman:1`]);
    const pushed = readFileSync(digestFile, 'utf8').trim();
    assert.equal(sha256(await rawManifest('matrix/podman:1')), pushed, 'the registry serves the manifest podman pushed');
    await tools.podman(['rmi', 'localhost/matrix/podman:1']);
    await tools.podman(['pull', '--cert-dir', certDir, `${host}/matrix/podman:1`]);
    const inspect = await tools.podman(['image', 'inspect', '--format', '{{.Digest}} {{index .Labels "built-by"}}', `${host}/matrix/podman:1`]);
    assert.equal(inspect.stdout.trim(), `${pushed} regop-tests`);
    await tools.podman(['logout', host]);
  }));

  it('buildah pushes an image it built', () => withRegistryLogs(registry, async () => {
    await tools.buildImage('localhost/matrix/buildah:1', 'from buildah', { label: 'built-by=regop-tests' });
    const digestFile = join(work, 'buildah.digest');
    await tools.buildah(['push', '--cert-dir', certDir, '--creds', `${user.name}:${user.password}`, '--digestfile', digestFile,
      'localhost/matrix/buildah:1', `docker://${registry.host}/matrix/buildah:1`]);
    const tags = await run('skopeo', ['list-tags', '--cert-dir', certDir, '--creds', `${user.name}:${user.password}`, `docker://${registry.host}/matrix/buildah`], { env });
    assert.deepEqual(JSON.parse(tags.stdout).Tags, ['1']);
    assert.equal(sha256(await rawManifest('matrix/buildah:1')), readFileSync(digestFile, 'utf8').trim());
  }));

  it('podman refuses a wrong password', () => withRegistryLogs(registry, async () => {
    const result = await tools.podman(['login', '--cert-dir', certDir, '-u', user.name, '--password-stdin', registry.host],
      { env: { ...env, REGISTRY_AUTH_FILE: join(work, 'other-auth.json') }, input: 'wrong', allowFailure: true });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /401|unauthorized|invalid username/i);
  }));

  it('a layer shared by two images pushed to two repositories is stored once', () => withRegistryLogs(registry, async () => {
    const host = registry.host;
    await tools.buildImage('localhost/matrix/base:1', `base layer ${randomBytes(8).toString('hex')}`, { label: 'built-by=regop-tests' });
    await tools.buildImage('localhost/matrix/derived:1', 'derived layer', { from: 'localhost/matrix/base:1', label: 'built-by=regop-tests' });
    await tools.podman(['push', '--cert-dir', certDir, '--creds', `${user.name}:${user.password}`, 'localhost/matrix/base:1', `${host}/matrix/base:1`]);
    await tools.podman(['push', '--cert-dir', certDir, '--creds', `${user.name}:${user.password}`, 'localhost/matrix/derived:1', `${host}/matrix/derived:1`]);
    const base = JSON.parse((await rawManifest('matrix/base:1')).toString()) as Manifest;
    const derived = JSON.parse((await rawManifest('matrix/derived:1')).toString()) as Manifest;
    assert.equal(base.layers.length, 1);
    assert.equal(derived.layers.length, 2);
    assert.equal(derived.layers[0]!.digest, base.layers[0]!.digest, 'the derived image reuses the base layer');
    assertStoredOnce(base.layers[0]!.digest, 'the shared layer');
    assertStoredOnce(derived.layers[1]!.digest, 'the derived image\'s own layer');
  }));

  it('skopeo copies a multi-arch index both ways with identical digests, storing shared layers once', () => withRegistryLogs(registry, async () => {
    const { dir: source, indexDigest, sharedLayer, manifestDigests } = multiArch;
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-cert-dir', certDir, '--dest-creds', `${user.name}:${user.password}`,
      `oci:${source}:multi`, `docker://${registry.host}/matrix/multi:v1`], { env });
    assert.equal(sha256(await rawManifest('matrix/multi:v1')), indexDigest);
    for (const digest of manifestDigests) assert.equal(sha256(await rawManifest(`matrix/multi@${digest}`)), digest);
    assertStoredOnce(sharedLayer, 'the layer both platforms share');
    const back = join(work, 'multi-back');
    await run('skopeo', ['copy', '--all', '--preserve-digests', '--src-cert-dir', certDir, '--src-creds', `${user.name}:${user.password}`,
      `docker://${registry.host}/matrix/multi:v1`, `oci:${back}:multi`], { env });
    const index = JSON.parse(readFileSync(join(back, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, indexDigest);
    const sourceBlobs = readdirSync(join(source, 'blobs', 'sha256')).sort();
    assert.deepEqual(readdirSync(join(back, 'blobs', 'sha256')).sort(), sourceBlobs);
    for (const file of sourceBlobs) {
      assert.ok(readFileSync(join(back, 'blobs', 'sha256', file)).equals(readFileSync(join(source, 'blobs', 'sha256', file))), file);
    }
  }));

  it('oras pushes and pulls an artifact with its artifactType, attaches a referrer and discovers it', () => withRegistryLogs(registry, async () => {
    const dir = mkdtempSync(join(work, 'oras-'));
    writeFileSync(join(dir, 'notes.txt'), 'artifact payload');
    writeFileSync(join(dir, 'sbom.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3' }));
    const auth = ['--ca-file', registry.caFile!, '-u', user.name, '-p', user.password];
    const ref = `${registry.host}/matrix/artifact:v1`;
    await run('oras', ['push', ...auth, '--artifact-type', 'application/vnd.regop.test', ref, 'notes.txt:text/plain'], { env, cwd: dir });
    const manifest = JSON.parse((await run('oras', ['manifest', 'fetch', ...auth, ref], { env })).stdout) as Manifest;
    assert.equal(manifest.artifactType, 'application/vnd.regop.test');
    assert.equal(manifest.layers[0]!.mediaType, 'text/plain');
    const out = mkdtempSync(join(work, 'oras-out-'));
    await run('oras', ['pull', ...auth, '-o', out, ref], { env });
    assert.equal(readFileSync(join(out, 'notes.txt'), 'utf8'), 'artifact payload');
    await run('oras', ['attach', ...auth, '--artifact-type', 'application/spdx+json', ref, 'sbom.json:application/json'], { env, cwd: dir });
    const discover = await run('oras', ['discover', ...auth, '--format', 'json', ref], { env });
    const found = JSON.parse(discover.stdout);
    const referrers: Descriptor[] = found.referrers ?? found.manifests ?? [];
    assert.equal(referrers.length, 1, discover.stdout);
    assert.equal(referrers[0]!.artifactType, 'application/spdx+json', discover.stdout);
    // the referrer pulls back too, and its subject is the artifact
    const referrer = JSON.parse((await run('oras', ['manifest', 'fetch', ...auth, `${registry.host}/matrix/artifact@${referrers[0]!.digest}`], { env })).stdout);
    assert.equal(referrer.subject.digest, sha256(await rawManifest('matrix/artifact:v1')));
  }));

  it('crane copies, lists, digests and deletes', () => withRegistryLogs(registry, async () => {
    await run('crane', ['auth', 'login', registry.host, '-u', user.name, '--password-stdin'], { env, input: user.password });
    const source = `${registry.host}/matrix/multi:v1`;
    const target = `${registry.host}/matrix/crane:copied`;
    await run('crane', ['copy', source, target], { env });
    assert.deepEqual((await run('crane', ['ls', `${registry.host}/matrix/crane`], { env })).stdout.trim().split('\n'), ['copied']);
    const digest = (await run('crane', ['digest', target], { env })).stdout.trim();
    assert.equal(digest, multiArch.indexDigest);
    assert.equal((await run('crane', ['digest', source], { env })).stdout.trim(), digest);
    await run('crane', ['delete', `${registry.host}/matrix/crane@${digest}`], { env });
    assert.equal((await run('crane', ['ls', `${registry.host}/matrix/crane`], { env })).stdout.trim(), '');
    const gone = await run('crane', ['digest', target], { env, allowFailure: true });
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /MANIFEST_UNKNOWN|404|not found/i);
    // the source repository is untouched
    assert.equal((await run('crane', ['digest', source], { env })).stdout.trim(), multiArch.indexDigest);
  }));

  it('regctl lists tags, gets a manifest and a blob byte-identical', () => withRegistryLogs(registry, async () => {
    await run('regctl', ['registry', 'login', registry.host, '-u', user.name, '--pass-stdin'], { env, input: user.password });
    const tags = await run('regctl', ['tag', 'ls', `${registry.host}/matrix/multi`], { env });
    assert.deepEqual(tags.stdout.trim().split('\n'), ['v1']);
    const manifest = await run('regctl', ['manifest', 'get', '--format', 'raw-body', `${registry.host}/matrix/multi:v1`], { env });
    assert.equal(sha256(manifest.stdoutBytes), multiArch.indexDigest);
    const index = JSON.parse(manifest.stdout) as Manifest;
    const child = JSON.parse((await run('regctl', ['manifest', 'get', '--format', 'raw-body', `${registry.host}/matrix/multi@${index.manifests![0]!.digest}`], { env })).stdout) as Manifest;
    for (const layer of child.layers) {
      const blob = await run('regctl', ['blob', 'get', `${registry.host}/matrix/multi`, layer.digest], { env });
      const original = readFileSync(join(multiArch.dir, 'blobs', 'sha256', layer.digest.slice(7)));
      assert.ok(blob.stdoutBytes.equals(original), `blob ${layer.digest} is byte-identical`);
    }
  }));

  it('helm pushes and pulls an OCI chart', () => withRegistryLogs(registry, async () => {
    const dir = mkdtempSync(join(work, 'helm-'));
    await run('helm', ['create', 'regop-demo'], { env, cwd: dir });
    await run('helm', ['package', 'regop-demo'], { env, cwd: dir });
    const packaged = join(dir, 'regop-demo-0.1.0.tgz');
    assert.ok(existsSync(packaged));
    await run('helm', ['registry', 'login', registry.host, '--ca-file', registry.caFile!, '-u', user.name, '--password-stdin'], { env, input: user.password });
    const push = await run('helm', ['push', packaged, `oci://${registry.host}/charts`, '--ca-file', registry.caFile!], { env });
    const pushedDigest = /Digest:\s*(sha256:[0-9a-f]{64})/.exec(push.stdout + push.stderr)?.[1];
    assert.ok(pushedDigest, push.stdout + push.stderr);
    const chart = JSON.parse((await rawManifest('charts/regop-demo:0.1.0')).toString()) as Manifest;
    assert.equal(chart.config.mediaType, 'application/vnd.cncf.helm.config.v1+json');
    const out = mkdtempSync(join(work, 'helm-out-'));
    await run('helm', ['pull', `oci://${registry.host}/charts/regop-demo`, '--version', '0.1.0', '--ca-file', registry.caFile!, '-d', out], { env });
    assert.ok(readFileSync(join(out, 'regop-demo-0.1.0.tgz')).equals(readFileSync(packaged)));
  }));
}

describe('real clients over TLS with auth', () => {
  clientMatrix(async () => ({ registry: await startRegistry({ tls: true, users: [user] }) }));
});

describe('real clients over TLS with auth, on S3 storage', () => {
  clientMatrix(async () => {
    const s3 = await startS3Server();
    await s3.createBucket('clients');
    const storage = { s3: { server: s3, bucket: 'clients', prefix: 'registry' } };
    return { registry: await startRegistry({ tls: true, users: [user], storage }), stopStorage: () => s3.stop() };
  });
});
