// Running the real client tools (installed by test/tools/install.sh) from tests, with isolated config dirs.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const TOOLS_BIN = join(process.env.REGOP_CACHE ?? join(homedir(), '.cache', 'regop'), 'tools', 'bin');

/** The path of a tool: the Go-built ones from the tools cache, the apt ones from the PATH. */
export function tool(name: string): string {
  const cached = join(TOOLS_BIN, name);
  return existsSync(cached) ? cached : name;
}

export interface RunResult {
  code: number;
  stdout: string;
  /** stdout as bytes, for binary output */
  stdoutBytes: Buffer;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  input?: string | Buffer;
  cwd?: string;
  timeoutMs?: number;
  /** resolve instead of throwing on a non-zero exit */
  allowFailure?: boolean;
}

/** A HOME of its own, so no tool reads or writes the machine's config (auth files, caches, policies). */
export function isolatedHome(): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), 'regop-home-'));
  for (const dir of ['.config', '.cache', '.local/share', 'run', '.docker']) mkdirSync(join(home, dir), { recursive: true });
  // buildah insists that a configured auth file exists
  writeFileSync(join(home, '.docker', 'config.json'), '{}');
  writeFileSync(join(home, 'auth.json'), '{}');
  return {
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_DATA_HOME: join(home, '.local/share'),
    XDG_RUNTIME_DIR: join(home, 'run'),
    DOCKER_CONFIG: join(home, '.docker'),
    // podman, buildah and skopeo (as root they would otherwise use /run/containers/0/auth.json)
    REGISTRY_AUTH_FILE: join(home, 'auth.json'),
    HELM_CONFIG_HOME: join(home, '.config/helm'),
    HELM_CACHE_HOME: join(home, '.cache/helm'),
    HELM_DATA_HOME: join(home, '.local/share/helm'),
    HELM_REGISTRY_CONFIG: join(home, '.config/helm/registry/config.json'),
  };
}

export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool(command), args, {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 300_000);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ENOENT') {
        reject(new Error(`${command}: not found in ${TOOLS_BIN} nor on the PATH; run test/tools/install.sh`));
      } else {
        reject(error);
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      const stdout = stdoutBytes.toString('utf8');
      const result = { code: code ?? -1, stdout, stdoutBytes, stderr };
      if (code !== 0 && !options.allowFailure) {
        const how = timedOut ? `was killed after ${options.timeoutMs ?? 300_000} ms` : `exited ${code}`;
        reject(new Error(`${command} ${args.join(' ')} ${how}\n--- stdout\n${stdout.slice(-8000)}\n--- stderr\n${stderr.slice(-8000)}`));
      } else {
        resolve(result);
      }
    });
    // a tool that exits without reading its input closes the pipe (EPIPE): its exit code tells what happened
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Runs a test body; when it fails, the registry's log tail is added to the error, so a failing client run shows the
 * command, its output (from run) and what the server saw.
 */
export async function withRegistryLogs<T>(registry: { logs(): string }, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const logs = `\n--- registry log (tail)\n${registry.logs().slice(-12_000)}`;
    if (error instanceof Error) {
      const stack = error.stack ?? ''; // read first: V8 formats it lazily, from the message at that time
      error.message += logs;
      error.stack = `${stack}${logs}`;
      throw error;
    }
    throw new Error(`${String(error)}${logs}`);
  }
}
