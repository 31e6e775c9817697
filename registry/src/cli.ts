#!/usr/bin/env node
// regop-registry: the registry server's command line.
import { writeFileSync, readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import ms from 'ms';
import { offlineGc, offlineRetention, postJson, readPolicy } from './maintenance-client.ts';
import pino from 'pino';
import { ConfigError, loadConfig } from './config.ts';
import { optimizeHeapForSize } from './ops/heap-sizing.ts';
import { startServer } from './server.ts';

const program = new Command('regop-registry')
  .description('An OCI Distribution v1.1 registry with htpasswd auth and TLS')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the registry server')
  .addOption(new Option('-c, --config <file>', 'YAML config file').env('REGOP_REGISTRY_CONFIG'))
  .option('--listen <host:port>', 'API address (default 0.0.0.0:5000)')
  .option('--storage <dir>', 'storage root directory')
  .option('--htpasswd <file>', 'htpasswd file with bcrypt hashes (enables auth)')
  .option('--access <file>', 'access rules file (YAML)')
  .option('--tls-cert <file>', 'TLS certificate (PEM)')
  .option('--tls-key <file>', 'TLS private key (PEM)')
  .option('--ops-listen <host:port>', 'plain-HTTP address for /healthz, /readyz and /metrics')
  .option('--anonymous-pull', 'allow pulls without credentials')
  .option('--admin-token-file <file>', 'enables the maintenance API (/admin/v1/gc, /admin/v1/retention) for this bearer token')
  .option('--log-level <level>', 'pino log level')
  .action(async (options: Record<string, string | boolean | undefined>) => {
    let config;
    try {
      config = loadConfig(options.config as string | undefined, {
        listen: options.listen as string | undefined,
        storage: options.storage as string | undefined,
        htpasswd: options.htpasswd as string | undefined,
        access: options.access as string | undefined,
        tlsCert: options.tlsCert as string | undefined,
        tlsKey: options.tlsKey as string | undefined,
        opsListen: options.opsListen as string | undefined,
        adminTokenFile: options.adminTokenFile as string | undefined,
        logLevel: options.logLevel as string | undefined,
        ...(options.anonymousPull ? { anonymousPull: true } : {}),
      });
    } catch (error) {
      if (error instanceof ConfigError) {
        process.stderr.write(`regop-registry: ${error.message}\n`);
        process.exit(2);
      }
      throw error;
    }
    const logger = pino({
      level: config.log.level,
      base: { service: 'regop-registry' },
      redact: { paths: ['req.headers.authorization', '*.password', 'headers.authorization'], censor: '[redacted]' },
    });
    optimizeHeapForSize();
    const server = await startServer(config, logger);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      server.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

/** Summaries for Kubernetes: a Job's container writes its result where the kubelet copies it into pod status. */
const TERMINATION_MESSAGE_LIMIT = 4000;

function emit(result: unknown, terminationLog: string | undefined): void {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (!terminationLog) return;
  let summary = JSON.stringify(summarize(result));
  if (summary.length > TERMINATION_MESSAGE_LIMIT) {
    summary = JSON.stringify({ ...(summarize(result) as object), plan: undefined, planTruncated: true });
  }
  writeFileSync(terminationLog, summary);
}

/** counts, and the plan cut down to what fits a termination message */
function summarize(result: unknown): unknown {
  const r = result as { plan?: { repositories: Array<{ name: string; deletedTags: Array<{ tag: string }>; deletedManifests: unknown[] }> } } & Record<string, unknown>;
  if (!r.plan) return r;
  const plan = r.plan.repositories
    .filter((repo) => repo.deletedTags.length > 0 || repo.deletedManifests.length > 0)
    .map((repo) => ({ repository: repo.name, deleteTags: repo.deletedTags.map((t) => t.tag).slice(0, 50), deleteManifests: repo.deletedManifests.length }));
  return { ...r, plan };
}

function serverTarget(options: Record<string, string | undefined>) {
  const token = readFileSync(options.tokenFile!, 'utf8').trim();
  return { url: options.server!, token, ...(options.caFile ? { caPem: readFileSync(options.caFile, 'utf8') } : {}) };
}

function gracePeriodMs(value: string | undefined): number {
  const parsed = ms((value ?? '1h') as ms.StringValue);
  if (typeof parsed !== 'number' || !Number.isFinite(parsed)) throw new Error(`invalid grace period ${value}`);
  return parsed;
}

function addTargetOptions(command: Command): Command {
  return command
    .option('--server <url>', 'a running registry (its admin API); the right way while it serves')
    .option('--token-file <file>', 'admin token for --server')
    .option('--ca-file <file>', 'CA to trust for --server')
    .option('--storage <dir>', 'offline: a storage directory no server is using')
    .option('--grace-period <duration>', 'never collect blobs younger than this', '1h')
    .option('--dry-run', 'report what would be deleted, delete nothing')
    .option('--termination-log <file>', 'also write a summary there (Kubernetes termination message)');
}

function requireTarget(options: Record<string, string | boolean | undefined>): void {
  if (!options.server === !options.storage) throw new Error('give exactly one of --server or --storage');
  if (options.server && !options.tokenFile) throw new Error('--server needs --token-file');
}

async function runMaintenance(action: () => Promise<unknown>, terminationLog: string | undefined): Promise<void> {
  try {
    emit(await action(), terminationLog);
  } catch (error) {
    const message = (error as Error).message;
    process.stderr.write(`regop-registry: ${message}\n`);
    if (terminationLog) writeFileSync(terminationLog, JSON.stringify({ error: message.slice(0, 1000) }));
    process.exit(1);
  }
}

addTargetOptions(program.command('gc').description('garbage-collect unreferenced blobs and stale uploads'))
  .action(async (options: Record<string, string | boolean | undefined>) => {
    await runMaintenance(async () => {
      requireTarget(options);
      const grace = gracePeriodMs(options.gracePeriod as string);
      if (options.server) {
        return postJson(serverTarget(options as Record<string, string>), '/admin/v1/gc', { gracePeriod: options.gracePeriod, dryRun: !!options.dryRun });
      }
      optimizeHeapForSize();
      return offlineGc(options.storage as string, grace, !!options.dryRun);
    }, options.terminationLog as string | undefined);
  });

addTargetOptions(program.command('retention').description('delete tags by a retention policy, then optionally garbage-collect'))
  .requiredOption('--policy <file>', 'retention rules (YAML or JSON)')
  .option('--gc', 'garbage-collect after deleting')
  .action(async (options: Record<string, string | boolean | undefined>) => {
    await runMaintenance(async () => {
      requireTarget(options);
      const rules = readPolicy(options.policy as string);
      const grace = gracePeriodMs(options.gracePeriod as string);
      if (options.server) {
        return postJson(serverTarget(options as Record<string, string>), '/admin/v1/retention', {
          rules, dryRun: !!options.dryRun, gc: { enabled: !!options.gc, gracePeriod: options.gracePeriod },
        });
      }
      return offlineRetention(options.storage as string, rules, !!options.dryRun, options.gc ? { gracePeriodMs: grace } : undefined);
    }, options.terminationLog as string | undefined);
  });

await program.parseAsync(process.argv);
