#!/usr/bin/env node
// regop-registry: the registry server's command line.
import { Command, Option } from 'commander';
import pino from 'pino';
import { ConfigError, loadConfig } from './config.ts';
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

await program.parseAsync(process.argv);
