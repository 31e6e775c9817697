#!/usr/bin/env node
// regop-registry: the registry server's command line.
import { writeFileSync, readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import ms from 'ms';
import { offlineBackup, offlineGc, offlineRestore, offlineRetention, offlineStorageConfig, postJson, readPolicy } from './maintenance-client.ts';
import { readLocationFile, openLocation, type BackupLocation } from './backup/destination.ts';
import { listSnapshots } from './backup/restore.ts';
import pino from 'pino';
import { ConfigError, loadConfig } from './config.ts';
import {
  backupJobSummary, jobFailure, REGISTRY_API_PORT, retentionJobSummary, terminationMessage, type RetentionOutput,
} from './contract/index.ts';
import type { BackupReport } from './backup/backup.ts';
import { startServer } from './server.ts';

const program = new Command('regop-registry')
  .description('An OCI Distribution v1.1 registry with htpasswd auth and TLS')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the registry server')
  .addOption(new Option('-c, --config <file>', 'YAML config file').env('REGOP_REGISTRY_CONFIG'))
  .option('--listen <host:port>', `API address (default 0.0.0.0:${REGISTRY_API_PORT})`)
  .option('--storage <dir>', 'storage root directory')
  .option('--htpasswd <file>', 'htpasswd file with bcrypt hashes (enables auth)')
  .option('--access <file>', 'access rules file (YAML)')
  .option('--tls-cert <file>', 'TLS certificate (PEM)')
  .option('--tls-key <file>', 'TLS private key (PEM)')
  .option('--ops-listen <host:port>', 'plain-HTTP address for /healthz, /readyz and /metrics')
  .option('--anonymous-pull', 'allow pulls without credentials')
  .option('--admin-token-file <file>', 'enables the maintenance API (/admin/v1/gc, /admin/v1/retention, /admin/v1/backup) for this bearer token')
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

/**
 * A maintenance command's run: its result is printed, and with --termination-log its summary is written there too,
 * where the kubelet copies it into the pod's status for the operator (contract/job-summary.ts).
 */
async function runMaintenance<Result>(
  action: () => Promise<Result>, terminationLog: string | undefined, summarize: (result: Result) => unknown = (result) => result,
): Promise<void> {
  try {
    const result = await action();
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (terminationLog) writeFileSync(terminationLog, terminationMessage(summarize(result)));
  } catch (error) {
    const message = (error as Error).message;
    process.stderr.write(`regop-registry: ${message}\n`);
    if (terminationLog) writeFileSync(terminationLog, terminationMessage(jobFailure(message)));
    process.exit(1);
  }
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

addTargetOptions(program.command('gc').description('garbage-collect unreferenced blobs and stale uploads'))
  .action(async (options: Record<string, string | boolean | undefined>) => {
    await runMaintenance(async () => {
      requireTarget(options);
      const grace = gracePeriodMs(options.gracePeriod as string);
      if (options.server) {
        return postJson(serverTarget(options as Record<string, string>), '/admin/v1/gc', { gracePeriod: options.gracePeriod, dryRun: !!options.dryRun });
      }
      return offlineGc(options.storage as string, grace, !!options.dryRun);
    }, options.terminationLog as string | undefined);
  });

addTargetOptions(program.command('retention').description('delete tags by a retention policy, then optionally garbage-collect'))
  .requiredOption('--policy <file>', 'retention rules (YAML or JSON)')
  .option('--gc', 'garbage-collect after deleting')
  .action(async (options: Record<string, string | boolean | undefined>) => {
    await runMaintenance(async (): Promise<RetentionOutput> => {
      requireTarget(options);
      const rules = readPolicy(options.policy as string);
      const grace = gracePeriodMs(options.gracePeriod as string);
      if (options.server) {
        // the admin API answers what offlineRetention returns (http/admin.ts)
        return await postJson(serverTarget(options as Record<string, string>), '/admin/v1/retention', {
          rules, dryRun: !!options.dryRun, gc: { enabled: !!options.gc, gracePeriod: options.gracePeriod },
        }) as RetentionOutput;
      }
      return offlineRetention(options.storage as string, rules, !!options.dryRun, options.gc ? { gracePeriodMs: grace } : undefined);
    }, options.terminationLog as string | undefined, retentionJobSummary);
  });

/** `--DIR` or `--CONFIG file`: a directory, or a file holding {root} or {s3: {...}} as the storage section does */
function location(dir: string | undefined, configFile: string | undefined, flag: string): BackupLocation {
  if (!dir === !configFile) throw new Error(`give exactly one of --${flag} or --${flag}-config`);
  return dir ? { root: dir } : readLocationFile(configFile!, flag === 'to' ? 'destination' : 'source');
}

function keepOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const keep = Number(value);
  if (!Number.isSafeInteger(keep) || keep < 1) throw new Error(`--keep must be a whole number of at least 1 (got ${value})`);
  return keep;
}

program.command('backup')
  .description('copy every image (tags, manifests, referrers, blobs) to a backup as a new snapshot; blobs already there are not copied again')
  .option('--server <url>', 'a running registry (its admin API): the backup runs inside it; the right way while it serves')
  .option('--token-file <file>', 'admin token for --server')
  .option('--ca-file <file>', 'CA to trust for --server')
  .option('-c, --config <file>', 'offline: the registry\'s config file (its storage section and mirrors)')
  .option('--storage <dir>', 'offline: a storage directory no server is using')
  .option('--to <dir>', 'the backup directory (with --server: a path the server can write, e.g. a mounted volume)')
  .option('--to-config <file>', 'the backup location as YAML: root: DIR, or s3: {bucket, prefix, endpoint, ...} as in the storage section')
  .option('--keep <n>', 'then delete all but the newest n snapshots, and the blobs none of them needs')
  .option('--termination-log <file>', 'also write a summary there (Kubernetes termination message)')
  .action(async (options: Record<string, string | undefined>) => {
    await runMaintenance(async (): Promise<BackupReport> => {
      const destination = location(options.to, options.toConfig, 'to');
      const keep = keepOption(options.keep);
      if (options.server) {
        if (options.config || options.storage) throw new Error('give --server, or --config/--storage for an offline backup, not both');
        if (!options.tokenFile) throw new Error('--server needs --token-file');
        // the admin API answers the report offlineBackup returns (http/admin.ts)
        return await postJson(serverTarget(options), '/admin/v1/backup', { destination, ...(keep !== undefined ? { keep } : {}) }) as BackupReport;
      }
      if (!options.config && !options.storage) throw new Error('give --server (a running registry) or --config/--storage (offline)');
      return offlineBackup(offlineStorageConfig(options.config, options.storage), destination, keep);
    }, options.terminationLog, backupJobSummary);
  });

program.command('restore')
  .description('restore a backup snapshot into a registry\'s storage: offline (no registry serving it; refuses a store that holds content unless --force), or into a running registry\'s empty store through its admin API (--server)')
  .option('--server <url>', 'a running registry (its admin API) whose store is empty: it restores in-process, e.g. a new Registry in a cluster')
  .option('--token-file <file>', 'admin token for --server')
  .option('--ca-file <file>', 'CA to trust for --server')
  .option('-c, --config <file>', 'offline: the registry\'s config file (its storage section)')
  .option('--storage <dir>', 'offline: the registry\'s storage directory')
  .option('--from <dir>', 'the backup directory (with --server: a path the server can read, e.g. a mounted volume)')
  .option('--from-config <file>', 'the backup location as YAML: root: DIR, or s3: {bucket, prefix, endpoint, ...}')
  .option('--snapshot <id>', 'the snapshot to restore (default: the newest)')
  .option('--list', 'list the snapshots of the backup, newest first, and restore nothing')
  .option('--force', 'offline only: restore into a store that holds content: the snapshot\'s images are added, its tags replace those of the same names')
  .option('--termination-log <file>', 'also write a summary there (Kubernetes termination message)')
  .action(async (options: Record<string, string | boolean | undefined>) => {
    await runMaintenance(async () => {
      const source = location(options.from as string | undefined, options.fromConfig as string | undefined, 'from');
      if (options.list) return { snapshots: (await listSnapshots(await openLocation(source))).reverse() };
      const snapshot = options.snapshot ? { snapshot: options.snapshot as string } : {};
      if (options.server) {
        if (options.config || options.storage) throw new Error('give --server, or --config/--storage for an offline restore, not both');
        if (options.force) throw new Error('--force is for the offline restore: a running registry restores only into an empty store');
        if (!options.tokenFile) throw new Error('--server needs --token-file');
        return postJson(serverTarget(options as Record<string, string | undefined>), '/admin/v1/restore', { source, ...snapshot });
      }
      if (!options.config && !options.storage) throw new Error('give --server (a running registry) or --config/--storage (offline): the registry storage to restore into');
      return offlineRestore(offlineStorageConfig(options.config as string | undefined, options.storage as string | undefined), source, {
        ...snapshot,
        force: !!options.force,
      });
    }, options.terminationLog as string | undefined);
  });

await program.parseAsync(process.argv);
