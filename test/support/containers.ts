// podman and buildah as the tests run them on this machine, as root: a private image store (vfs) under a work
// directory of the test, cgroupfs and runc (crun refuses this machine), and events to a file. One place, so that
// a flag this machine needs is added once for every test.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, type RunResult } from '../registry/tools.ts';

export interface ToolRunOptions {
  input?: string;
  allowFailure?: boolean;
  timeoutMs?: number;
  /** instead of the tools' environment, e.g. with another auth file */
  env?: Record<string, string>;
}

export class ContainerTools {
  /** the private store, for buildah and for podman alike */
  readonly storageFlags: string[];
  readonly work: string;
  readonly env: Record<string, string>;

  /** `env`: the environment the tools run in (e.g. isolatedHome() with SSL_CERT_FILE) */
  constructor(work: string, env: Record<string, string>) {
    this.work = work;
    this.env = env;
    this.storageFlags = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs'];
  }

  /** podman's global flags: the store, its own tmpdir (not /run/libpod), cgroupfs, runc, file events */
  podmanFlags(): string[] {
    const tmpdir = join(this.work, 'libpod');
    mkdirSync(tmpdir, { recursive: true });
    return [...this.storageFlags, '--tmpdir', tmpdir, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc'];
  }

  podman(args: string[], options: ToolRunOptions = {}): Promise<RunResult> {
    return run('podman', [...this.podmanFlags(), ...args], { env: this.env, ...options });
  }

  buildah(args: string[], options: ToolRunOptions = {}): Promise<RunResult> {
    return run('buildah', [...this.storageFlags, ...args], { env: this.env, ...options });
  }

  /**
   * An image of one file built by buildah from scratch (or from a local image), committed as `tag` in the
   * private store: no container runs, so it builds here without a runtime.
   */
  async buildImage(tag: string, content: string, options: { from?: string; label?: string } = {}): Promise<void> {
    const name = tag.replace(/\W/g, '_');
    const file = join(this.work, `${name}.txt`);
    writeFileSync(file, content);
    const from = options.from ?? 'scratch';
    const container = (await this.buildah(['from', ...(from === 'scratch' ? [] : ['--pull=never']), from])).stdout.trim();
    await this.buildah(['copy', container, file, `/${name}.txt`]);
    if (options.label) await this.buildah(['config', '--label', options.label, container]);
    await this.buildah(['commit', '-q', '--rm', container, tag]);
  }
}
