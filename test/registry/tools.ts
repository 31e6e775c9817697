// Running the real client tools (installed by test/tools/install.sh) from tests, with isolated config dirs.
import { execFile, spawn } from 'node:child_process';
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
  return {
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_DATA_HOME: join(home, '.local/share'),
    XDG_RUNTIME_DIR: join(home, 'run'),
    DOCKER_CONFIG: join(home, '.docker'),
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
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      const stdout = stdoutBytes.toString('utf8');
      const result = { code: code ?? -1, stdout, stdoutBytes, stderr };
      if (code !== 0 && !options.allowFailure) {
        reject(new Error(`${command} ${args.join(' ')} exited ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
      } else {
        resolve(result);
      }
    });
    child.stdin.end(options.input ?? '');
  });
}

export { execFile };
