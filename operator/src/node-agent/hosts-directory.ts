// The agent's hands on containerd's hosts directory (mounted from the node). Every file goes in by write and
// rename, so containerd never reads half a file; CAs go in before the hosts.toml that names them. A
// directory is the agent's only when its owner file says so: it never writes over, nor removes, a hosts.toml
// or CA that an admin (or another Registry) put there. hosts.toml is readable by root only: a mirrored host's
// file holds the nodes' pull credentials.
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, open, readdir, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_FILES, HOSTS_FILE } from './hosts-config.ts';

/** names the Registry (`namespace/name`) a directory's files were written for */
export const OWNER_FILE = '.regop-node-agent';

/** The directory holds files the agent did not write: reported, never overwritten. */
export class ForeignFilesError extends Error {
  readonly reason = 'HostsFileNotOurs';
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** write to a temporary name in the same directory, flush, then rename over the target */
async function writeAtomically(path: string, content: string, dir: string, mode = 0o644): Promise<void> {
  const temporary = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
  const handle = await open(temporary, 'w', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await unlinkIfPresent(temporary);
    throw error;
  }
}

export class HostsDirectory {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** hosts whose directory the agent owns, by owner (`namespace/name`) */
  async owned(): Promise<Map<string, string[]>> {
    const owners = new Map<string, string[]>();
    let entries: string[];
    try {
      entries = await readdir(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return owners;
      throw error;
    }
    for (const host of entries) {
      const owner = (await readText(join(this.root, host, OWNER_FILE)))?.trim();
      if (owner) owners.set(owner, [...(owners.get(owner) ?? []), host]);
    }
    return owners;
  }

  /** whether the agent can write here; the reason when not */
  async writable(): Promise<{ ok: true } | { ok: false; reason: string; message: string }> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.W_OK);
      const probe = join(this.root, `.tmp-probe-${randomBytes(4).toString('hex')}`);
      await writeAtomically(probe, '', this.root);
      await unlink(probe);
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: 'DirectoryNotWritable', message: `cannot write the hosts directory: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
    }
  }

  /** a file the agent wrote for `owner`, or undefined */
  async readOwn(owner: string, host: string, name: string): Promise<string | undefined> {
    const dir = join(this.root, host);
    if ((await readText(join(dir, OWNER_FILE)))?.trim() !== owner) return undefined;
    return readText(join(dir, name));
  }

  /** @returns whether anything changed */
  async write(owner: string, host: string, files: Record<string, string>): Promise<boolean> {
    const dir = join(this.root, host);
    const currentOwner = (await readText(join(dir, OWNER_FILE)))?.trim();
    if (currentOwner !== owner) {
      if (currentOwner) throw new ForeignFilesError(`${dir} belongs to Registry ${currentOwner}`);
      for (const name of AGENT_FILES) {
        if (await exists(join(dir, name))) throw new ForeignFilesError(`${join(dir, name)} was not written by the agent; leaving it alone`);
      }
    }
    await mkdir(dir, { recursive: true });
    let changed = false;
    if (currentOwner !== owner) {
      await writeAtomically(join(dir, OWNER_FILE), `${owner}\n`, dir);
      changed = true;
    }
    // CAs first: hosts.toml names them
    const order = Object.keys(files).sort((a, b) => (a === HOSTS_FILE ? 1 : 0) - (b === HOSTS_FILE ? 1 : 0));
    for (const name of order) {
      const path = join(dir, name);
      const mode = name === HOSTS_FILE ? 0o600 : 0o644;
      if ((await readText(path)) === files[name] && ((await stat(path)).mode & 0o777) === mode) continue;
      await writeAtomically(path, files[name]!, dir, mode);
      changed = true;
    }
    // a file of ours the new plan no longer has (a CA dropped when TLS was turned off)
    for (const name of AGENT_FILES) {
      if (!(name in files) && await exists(join(dir, name))) {
        await unlink(join(dir, name));
        changed = true;
      }
    }
    return changed;
  }

  /** removes what the agent wrote for `owner` under `host`; anything else in that directory stays */
  async remove(owner: string, host: string): Promise<boolean> {
    const dir = join(this.root, host);
    if ((await readText(join(dir, OWNER_FILE)))?.trim() !== owner) return false;
    // hosts.toml first: containerd must not be left reading a file whose CA is gone
    for (const name of [...AGENT_FILES, OWNER_FILE]) await unlinkIfPresent(join(dir, name));
    try {
      await rmdir(dir);
    } catch (error) {
      if (!['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
    return true;
  }
}
