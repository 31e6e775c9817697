// A registry filled the way users fill one, for the web UI's browser tests, screenshots and page-weight probe:
// images built by buildah and pushed by buildah/skopeo/crane, a multi-platform index, a signature and an SBOM
// attached with oras, users with different rights, manifests whose labels and annotations carry XSS attempts, and
// (on request) a repository with thousands of tags. Every tool runs with a HOME and container store of its own.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { startRegistry, type RunningRegistry, type StartOptions, type TestUser } from './registry.ts';
import { clientFor } from './http.ts';
import { OCI_MANIFEST, pushImage, sha256 } from './oci.ts';
import { isolatedHome, run } from '../registry/tools.ts';
import { ContainerTools } from './containers.ts';

/** may pull, push and delete everywhere */
export const adminUser = { name: 'admin', password: 'ui-admin-pw-1' } as const;
/** may only pull */
export const viewerUser = { name: 'viewer', password: 'ui-viewer-pw-1' } as const;

const uiUsers: TestUser[] = [
  { ...adminUser, access: [{ repositories: ['**'], actions: ['pull', 'push', 'delete'] }] },
  { ...viewerUser, access: [{ repositories: ['**'], actions: ['pull'] }] },
];

/** What the XSS attempts try; none of it may ever run or become an element. */
export const xssPayloads = {
  img: '<img src=x onerror=alert(1)>',
  script: '</script><script>alert(1)</script>',
  attribute: '" autofocus onfocus=alert(1) x="',
  svg: '"><svg onload=alert(1)>',
  link: 'javascript:alert(1)',
} as const;

export const SIGNATURE_TYPE = 'application/vnd.cncf.notary.signature';
export const SBOM_TYPE = 'application/spdx+json';

export interface Platform {
  os: string;
  architecture: string;
  digest: string;
  layers: string[];
}

export interface UiContent {
  /** the multi-platform image: an OCI index that buildah pushed */
  multiPlatform: { repository: string; tag: string; digest: string; platforms: Platform[] };
  /** referrers of the multi-platform index, attached with oras */
  referrers: Array<{ artifactType: string; digest: string }>;
  /** two tags on one digest and a third on another: the admin deletes one, the viewer may not */
  deletable: { repository: string; tag: string; sameDigestTag: string; otherTag: string; digest: string };
  /** repositories a search finds by a part of their name */
  searchable: string[];
  /** hostile labels/annotations; `manyAnnotations` carries thousands of annotations and a very long value */
  hostile?: { repository: string; tag: string; digest: string; manyAnnotationsTag: string; manyAnnotationsDigest: string; artifactDigest: string };
  manyTags?: { repository: string; count: number; digest: string; firstTag: string };
}

export interface UiRegistry {
  registry: RunningRegistry;
  content: UiContent;
  /** admin bearer token for /admin/v1 (GC, retention) */
  adminToken: string;
  stop(): Promise<void>;
}

export interface UiRegistryOptions {
  /** labels and annotations that carry XSS attempts, and a manifest with thousands of annotations */
  hostile?: boolean;
  /** a repository with this many tags (0: none) */
  manyTags?: number;
  /** more buildah-built repositories, for screenshots that look like a real registry */
  demo?: boolean;
  /** passed to startRegistry (e.g. config) */
  start?: Partial<StartOptions>;
}

/** Starts a registry over TLS with the UI users and fills it with content pushed by real clients. */
export async function startUiRegistry(options: UiRegistryOptions = {}): Promise<UiRegistry> {
  const work = mkdtempSync(join(tmpdir(), 'regop-ui-'));
  const adminToken = `ui-admin-token-${Date.now()}`;
  const tokenFile = join(work, 'admin-token');
  writeFileSync(tokenFile, adminToken, { mode: 0o600 });
  const registry = await startRegistry({
    tls: true, users: uiUsers, ...options.start,
    extraArgs: ['--admin-token-file', tokenFile, '--log-level', 'warn', ...(options.start?.extraArgs ?? [])],
  });
  const clients = new Clients(registry, work);
  try {
    const content = await fillRegistry(clients, options);
    return {
      registry, content, adminToken,
      async stop() {
        await registry.stop();
        clients.remove();
      },
    };
  } catch (error) {
    const logs = registry.logs().slice(-6000);
    await registry.stop();
    clients.remove();
    if (error instanceof Error) error.message += `\n--- registry log (tail)\n${logs}`;
    throw error;
  }
}

async function fillRegistry(clients: Clients, options: UiRegistryOptions): Promise<UiContent> {
  const multiPlatform = await pushMultiPlatform(clients, 'demo/app', '1.0');
  const referrers = await attachReferrers(clients, `demo/app:${multiPlatform.tag}`);
  await clients.crane('tag', `${clients.host}/demo/app:1.0`, 'latest');

  // search: names that share nothing but the words searched for
  await clients.build('localhost/ui/api', { files: { '/srv/api.txt': 'api server' }, labels: { 'org.opencontainers.image.title': 'API' } });
  const searchable = ['team-a/payments-api', 'team-b/catalog-api', 'tools/debug-shell'];
  for (const repository of searchable) await clients.push('localhost/ui/api', `${repository}:1.0`);

  await clients.build('localhost/ui/web', { files: { '/srv/index.html': '<h1>web</h1>' } });
  await clients.build('localhost/ui/web2', { files: { '/srv/index.html': '<h1>web v2</h1>' } });
  const deletableRepository = 'demo/deletable';
  const digest = await clients.push('localhost/ui/web', `${deletableRepository}:old`);
  await clients.crane('tag', `${clients.host}/${deletableRepository}:old`, 'also-old');
  await clients.push('localhost/ui/web2', `${deletableRepository}:current`);
  const content: UiContent = {
    multiPlatform, referrers, searchable,
    deletable: { repository: deletableRepository, tag: 'old', sameDigestTag: 'also-old', otherTag: 'current', digest },
  };
  if (options.demo) await pushDemoRepositories(clients);
  if (options.hostile) content.hostile = await pushHostile(clients);
  if (options.manyTags) content.manyTags = await pushManyTags(clients.registry, 'demo/many-tags', options.manyTags);
  return content;
}

/** Two platform images built by buildah, put in a manifest list and pushed as one OCI index with --all. */
async function pushMultiPlatform(clients: Clients, repository: string, tag: string): Promise<UiContent['multiPlatform']> {
  const list = 'localhost/ui/app-list';
  await clients.buildah('manifest', 'create', list);
  for (const architecture of ['amd64', 'arm64']) {
    // two layers a platform: a base image's, and the app's on top of it
    const base = `localhost/ui/base-${architecture}`;
    await clients.build(base, { architecture, files: { '/etc/os-release': `NAME=demo-os\nARCH=${architecture}\n` } });
    const image = `localhost/ui/app-${architecture}`;
    await clients.build(image, {
      from: base, architecture,
      files: { '/app/server': `#!/bin/sh\necho serving on ${architecture}\n` },
      env: ['PORT=8080', 'APP_ENV=production'],
      entrypoint: '["/app/server"]',
      cmd: '--listen=:8080',
      labels: { 'org.opencontainers.image.title': 'demo app', 'org.opencontainers.image.version': tag, 'org.opencontainers.image.source': 'https://example.invalid/demo/app' },
    });
    await clients.buildah('manifest', 'add', list, `containers-storage:${image}`);
  }
  await clients.buildah('manifest', 'push', '--all', '--format', 'oci', ...clients.destination(), list, `docker://${clients.host}/${repository}:${tag}`);
  const indexBytes = await clients.rawManifest(`${repository}:${tag}`);
  const index = JSON.parse(indexBytes.toString()) as { manifests: Array<{ digest: string; platform: { os: string; architecture: string } }> };
  const platforms: Platform[] = [];
  for (const entry of index.manifests) {
    const manifest = JSON.parse((await clients.rawManifest(`${repository}@${entry.digest}`)).toString()) as { layers: Array<{ digest: string }> };
    platforms.push({ os: entry.platform.os, architecture: entry.platform.architecture, digest: entry.digest, layers: manifest.layers.map((l) => l.digest) });
  }
  return { repository, tag, digest: sha256(indexBytes), platforms };
}

/** A signature and an SBOM attached to a reference with oras; their digests as the referrers API lists them. */
async function attachReferrers(clients: Clients, reference: string): Promise<UiContent['referrers']> {
  const dir = clients.dir('oras-attach');
  writeFileSync(join(dir, 'signature.sig'), 'not a real signature: bytes for the UI tests');
  writeFileSync(join(dir, 'sbom.spdx.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'demo-app', packages: [{ name: 'busybox', versionInfo: '1.36.1' }] }));
  const attached: UiContent['referrers'] = [];
  for (const [artifactType, file] of [[SIGNATURE_TYPE, 'signature.sig:application/octet-stream'], [SBOM_TYPE, 'sbom.spdx.json:application/spdx+json']] as const) {
    const out = await clients.oras(['attach', '--format', 'json', '--artifact-type', artifactType, `${clients.host}/${reference}`, file], dir);
    attached.push({ artifactType, digest: (JSON.parse(out) as { digest: string }).digest });
  }
  return attached;
}

/** Repositories that make the screenshots look like a registry a team runs. */
async function pushDemoRepositories(clients: Clients): Promise<void> {
  const repositories: Array<[string, string[], Record<string, string>]> = [
    ['platform/api-gateway', ['2.4.1', '2.4.0', 'latest'], { '/etc/gateway.yaml': 'routes: []\n' }],
    ['platform/auth-service', ['1.12.0', 'latest'], { '/srv/auth': 'auth' }],
    ['platform/billing-worker', ['0.9.3'], { '/srv/worker': 'billing' }],
    ['web/storefront', ['2024.06.1', 'latest'], { '/srv/index.html': '<h1>shop</h1>' }],
    ['data/etl-runner', ['3.1.0'], { '/srv/etl': 'etl' }],
  ];
  for (const [repository, tags, files] of repositories) {
    const image = `localhost/ui/demo-${repository.replace(/\W/g, '-')}`;
    await clients.build(image, {
      files: { ...files, '/usr/share/filler.bin': randomish(256 * 1024, repository) },
      env: ['LOG_LEVEL=info'], entrypoint: `["/srv/${repository.split('/')[1]}"]`,
      labels: { 'org.opencontainers.image.title': repository, 'org.opencontainers.image.vendor': 'Example Corp' },
    });
    const [first, ...more] = tags;
    await clients.push(image, `${repository}:${first}`);
    for (const tag of more) await clients.crane('tag', `${clients.host}/${repository}:${first}`, tag);
  }
  await clients.oras(['attach', '--artifact-type', SIGNATURE_TYPE, `${clients.host}/platform/api-gateway:2.4.1`, 'sig:application/octet-stream'],
    writeIn(clients.dir('demo-sig'), 'sig', 'signature bytes'));
}

/** An image whose labels, env, entrypoint and annotations are XSS attempts; one with thousands of annotations. */
async function pushHostile(clients: Clients): Promise<NonNullable<UiContent['hostile']>> {
  const repository = 'demo/hostile';
  const image = 'localhost/ui/hostile';
  await clients.build(image, {
    files: { '/xss.txt': xssPayloads.script },
    env: [`XSS=${xssPayloads.svg}`, `IMG=${xssPayloads.img}`],
    entrypoint: JSON.stringify(['/bin/sh', '-c', xssPayloads.script]),
    labels: {
      'org.opencontainers.image.title': xssPayloads.img,
      'org.opencontainers.image.description': xssPayloads.script,
      'org.opencontainers.image.url': xssPayloads.link,
      [xssPayloads.img]: xssPayloads.attribute,
    },
    author: xssPayloads.svg,
  });
  const digest = await clients.push(image, `${repository}:xss`);

  // an artifact pushed by oras with payloads in annotations (keys and values), attached to the hostile image
  const dir = clients.dir('hostile-artifact');
  writeFileSync(join(dir, 'payload.txt'), xssPayloads.script);
  const annotations = Object.fromEntries(Object.entries(xssPayloads).map(([name, payload]) => [`org.example.xss.${name}`, payload]));
  annotations[xssPayloads.script] = xssPayloads.img;
  writeFileSync(join(dir, 'annotations.json'), JSON.stringify({ $manifest: annotations }));
  const attached = await clients.oras(['attach', '--format', 'json', '--artifact-type', 'application/vnd.example.xss+json',
    '--annotation-file', 'annotations.json', `${clients.host}/${repository}:xss`, 'payload.txt:text/html'], dir);

  // thousands of annotations and a very long value, pushed by oras as its own tag
  const many: Record<string, string> = { 'org.example.long': `${xssPayloads.img}${'A'.repeat(200_000)}${xssPayloads.script}` };
  for (let i = 0; i < 10_000; i++) many[`org.example.note.${String(i).padStart(5, '0')}`] = i % 100 === 0 ? xssPayloads.img : `value ${i}`;
  writeFileSync(join(dir, 'many.json'), JSON.stringify({ $manifest: { ...annotations, ...many } }));
  const manyAnnotationsTag = 'many-annotations';
  const pushed = await clients.oras(['push', '--format', 'json', '--artifact-type', 'application/vnd.example.notes',
    '--annotation-file', 'many.json', `${clients.host}/${repository}:${manyAnnotationsTag}`, 'payload.txt:text/html'], dir);
  return {
    repository, tag: 'xss', digest, manyAnnotationsTag,
    manyAnnotationsDigest: (JSON.parse(pushed) as { digest: string }).digest,
    artifactDigest: (JSON.parse(attached) as { digest: string }).digest,
  };
}

/** One image pushed, then its manifest PUT under `count` tags through the API, a few requests at a time. */
async function pushManyTags(registry: RunningRegistry, repository: string, count: number): Promise<NonNullable<UiContent['manyTags']>> {
  const client = clientFor(registry, adminUser);
  try {
    const manifest = await pushImage(client, repository, 'build-00000');
    const limit = pLimit(8);
    const tags = Array.from({ length: count - 1 }, (_, i) => `build-${String(i + 1).padStart(5, '0')}`);
    await Promise.all(tags.map((tag) => limit(async () => {
      const response = await client.send('PUT', `/v2/${repository}/manifests/${tag}`, { headers: { 'content-type': OCI_MANIFEST }, body: manifest.content });
      if (response.status !== 201) throw new Error(`PUT ${repository}:${tag} answered ${response.status}: ${response.body}`);
    })));
    return { repository, count, digest: manifest.digest, firstTag: 'build-00000' };
  } finally {
    await client.close();
  }
}

interface BuildOptions {
  /** a local image to build on (its layers come first); scratch by default */
  from?: string;
  files: Record<string, string | Buffer>;
  architecture?: string;
  env?: string[];
  entrypoint?: string;
  cmd?: string;
  labels?: Record<string, string>;
  author?: string;
}

/** The real client tools, each with its own HOME, auth and (vfs) container store, trusting the registry's CA. */
class Clients {
  readonly host: string;
  private readonly env: Record<string, string>;
  private readonly certDir: string;
  private readonly tools: ContainerTools;
  private readonly creds: string;
  private craneLoggedIn = false;
  readonly registry: RunningRegistry;
  private readonly work: string;

  constructor(registry: RunningRegistry, work: string) {
    this.registry = registry;
    this.work = work;
    this.host = registry.host;
    this.env = { ...isolatedHome(), SSL_CERT_FILE: registry.caFile! };
    this.certDir = this.dir('certs');
    writeFileSync(join(this.certDir, 'ca.crt'), registry.caPem!);
    this.tools = new ContainerTools(work, this.env);
    this.creds = `${adminUser.name}:${adminUser.password}`;
  }

  dir(name: string): string {
    const path = join(this.work, name);
    mkdirSync(path, { recursive: true });
    return path;
  }

  remove(): void {
    for (const dir of [this.work, this.env.HOME!]) rmSync(dir, { recursive: true, force: true });
  }

  destination(): string[] {
    return ['--cert-dir', this.certDir, '--creds', this.creds];
  }

  async buildah(...args: string[]): Promise<string> {
    return (await this.tools.buildah(args)).stdout.trim();
  }

  /** buildah from scratch (or a local image): the files as one more layer, the config as given, committed as OCI */
  async build(name: string, options: BuildOptions): Promise<void> {
    const container = await this.buildah('from', '--pull=never', options.from ?? 'scratch');
    const source = this.dir(`files-${name.replace(/\W/g, '_')}`);
    let n = 0;
    for (const [target, content] of Object.entries(options.files)) {
      const file = join(source, `f${n++}`);
      writeFileSync(file, content);
      await this.buildah('copy', container, file, target);
    }
    const config: string[] = ['--os', 'linux', '--arch', options.architecture ?? 'amd64'];
    for (const env of options.env ?? []) config.push('--env', env);
    for (const [key, value] of Object.entries(options.labels ?? {})) config.push('--label', `${key}=${value}`);
    if (options.entrypoint) config.push('--entrypoint', options.entrypoint);
    if (options.cmd) config.push('--cmd', options.cmd);
    if (options.author) config.push('--author', options.author);
    await this.buildah('config', ...config, container);
    await this.buildah('commit', '-q', '--format', 'oci', container, name);
    await this.buildah('rm', container);
  }

  /** buildah push of a local image; the pushed manifest's digest */
  async push(image: string, reference: string): Promise<string> {
    const digestFile = join(this.work, 'push.digest');
    await this.buildah('push', ...this.destination(), '--digestfile', digestFile, image, `docker://${this.host}/${reference}`);
    return readFileSync(digestFile, 'utf8').trim();
  }

  async crane(...args: string[]): Promise<string> {
    if (!this.craneLoggedIn) {
      await run('crane', ['auth', 'login', this.host, '-u', adminUser.name, '--password-stdin'], { env: this.env, input: adminUser.password });
      this.craneLoggedIn = true;
    }
    return (await run('crane', args, { env: this.env })).stdout.trim();
  }

  async oras(args: string[], cwd?: string): Promise<string> {
    const [command, ...rest] = args;
    const auth = ['--ca-file', this.registry.caFile!, '-u', adminUser.name, '-p', adminUser.password];
    return (await run('oras', [command!, ...auth, ...rest], { env: this.env, ...(cwd ? { cwd } : {}) })).stdout.trim();
  }

  /** the manifest bytes the registry serves, as skopeo fetches them */
  async rawManifest(reference: string): Promise<Buffer> {
    return (await run('skopeo', ['inspect', '--raw', '--cert-dir', this.certDir, '--creds', this.creds, `docker://${this.host}/${reference}`], { env: this.env })).stdoutBytes;
  }
}

function writeIn(dir: string, name: string, content: string): string {
  writeFileSync(join(dir, name), content);
  return dir;
}

/** incompressible-looking but reproducible bytes, so demo layers have sizes worth showing */
function randomish(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let block = Buffer.from(seed);
  for (let offset = 0; offset < size; offset += block.length) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, offset);
  }
  return out;
}
