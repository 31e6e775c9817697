// The maintenance API the retention and backup Jobs call: garbage collection, retention and backups run inside
// the serving process, where they can coordinate with uploads in flight (content/gc-guard.ts); a second process could not.
// Authenticated by a bearer token read from a file (a Kubernetes Secret), compared in constant time.
import { readFile } from 'node:fs/promises';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import ms from 'ms';
import { runBackup } from '../backup/backup.ts';
import { BackupError } from '../backup/errors.ts';
import { withGcHeldOff } from '../backup/gc-hold.ts';
import { runRestore } from '../backup/restore.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { describeLocation, openLocation, parseLocation, type BackupLocation } from '../backup/destination.ts';
import { ConfigError } from '../config.ts';
import { ErrorCodes, registryError } from '../errors.ts';
import type { GarbageCollector } from '../gc/collector.ts';
import { GcAlreadyRunningError } from '../content/gc-guard.ts';
import { backupRunSummary, failedBackupSummary, gcRunSummary, retentionRunSummary, type RunHistory } from '../ops/run-history.ts';
import { runRetention } from '../retention/executor.ts';
import { PolicyError, validateRules } from '../retention/policy.ts';
import type { Services } from './context.ts';
import { readBoundedBody } from './body.ts';
import { adminAuditFields, retentionAuditDetail } from '../audit/admin.ts';

export interface AdminOptions {
  tokenFile: string;
  defaultGracePeriodMs: number;
  uploadMaxAgeMs: number;
  /** where each run's summary is kept for the web UI's storage page */
  runs: RunHistory;
  /** the registry's storage, which a restore writes into */
  driver: StorageDriver;
}

function digestOf(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

async function requireAdmin(request: FastifyRequest, tokenFile: string): Promise<void> {
  const expected = (await readFile(tokenFile, 'utf8')).trim();
  const header = request.headers.authorization ?? '';
  const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
  // hashing first gives equal lengths, which timingSafeEqual needs
  if (!expected || !given || !timingSafeEqual(digestOf(expected), digestOf(given))) {
    throw registryError(ErrorCodes.UNAUTHORIZED, 'admin token required', null, { 'WWW-Authenticate': 'Bearer realm="regop-admin"' });
  }
}

function badBody(message: string, detail?: unknown): never {
  throw registryError(ErrorCodes.ADMIN_REQUEST_INVALID, message, detail);
}

/** A JSON object with only the given keys: a misspelt option must not silently fall back to a default. */
function objectWith(value: unknown, allowed: readonly string[], what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) badBody(`${what} must be a JSON object`);
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) badBody(`${what}: unknown field ${unknown.map((key) => JSON.stringify(key)).join(', ')}; allowed: ${allowed.join(', ')}`);
  return value as Record<string, unknown>;
}

function booleanField(body: Record<string, unknown>, key: string, what: string): boolean {
  const value = body[key];
  if (value === undefined) return false;
  if (typeof value !== 'boolean') badBody(`${what}.${key} must be true or false`, { [key]: value });
  return value;
}

function gracePeriod(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = typeof value === 'string' ? ms(value as ms.StringValue) : NaN;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
    badBody('gracePeriod must be a duration such as 1h', { gracePeriod: value });
  }
  return parsed;
}

async function jsonBody(request: FastifyRequest, allowed: readonly string[]): Promise<Record<string, unknown>> {
  const body = await readBoundedBody(request.raw, 1024 * 1024);
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    badBody('body must be a JSON object');
  }
  return objectWith(parsed, allowed, 'body');
}

/** the number of snapshots a backup keeps: a whole number, at least 1 (0 would delete the one just taken) */
function keepField(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) badBody('keep must be a whole number of at least 1', { keep: value });
  return value;
}

function locationField(value: unknown, what: 'destination' | 'source'): BackupLocation {
  if (value === undefined) badBody(`${what} is required: {"root": "/backups"} or {"s3": {"bucket": ..., ...}}`);
  try {
    return parseLocation(value, what);
  } catch (error) {
    if (error instanceof ConfigError) badBody(error.message);
    throw error;
  }
}

function alreadyRunning(backupRunning = false): Error {
  if (backupRunning) {
    return registryError(ErrorCodes.GC_IN_PROGRESS, 'a backup is running, and holds garbage collection and other backups off; retry when it has finished');
  }
  return registryError(ErrorCodes.GC_IN_PROGRESS, 'a garbage collection is already running; retry when it has finished');
}

/** The run happened whether or not its summary could be kept: a failure to record it is logged, not answered. */
async function recordRun(request: FastifyRequest, record: () => Promise<void>): Promise<void> {
  try {
    await record();
  } catch (error) {
    request.log.error({ err: error }, 'recording the run summary failed');
  }
}

export function registerAdminRoutes(app: FastifyInstance, services: Services, collector: GarbageCollector, options: AdminOptions): void {
  /** a backup takes the collection's slot (backup/gc-hold.ts): what a refused request is told (a count: a second
   * backup that passed the check may be refused by the slot while the first runs) */
  let backupsRunning = 0;
  const guarded = (handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      request.routeGroup = 'admin';
      services.audit.expect(request, adminAuditFields(request.url));
      await requireAdmin(request, options.tokenFile);
      if (collector.running) throw alreadyRunning(backupsRunning > 0);
      try {
        return reply.type('application/json').send(await handler(request, reply));
      } catch (error) {
        // two requests may both pass the check above; the collector itself admits one
        if (error instanceof GcAlreadyRunningError) throw alreadyRunning(backupsRunning > 0);
        throw error;
      }
    };

  app.post('/admin/v1/gc', guarded(async (request) => {
    const body = await jsonBody(request, ['gracePeriod', 'dryRun']);
    const report = await collector.collect({
      gracePeriodMs: gracePeriod(body.gracePeriod, options.defaultGracePeriodMs),
      uploadMaxAgeMs: options.uploadMaxAgeMs,
      dryRun: booleanField(body, 'dryRun', 'body'),
    });
    request.log.info({ gc: report }, 'garbage collection finished');
    services.audit.succeeded(request, { detail: { ...gcRunSummary(report, new Date()) } });
    await recordRun(request, () => options.runs.record('gc', gcRunSummary(report, new Date())));
    return report;
  }));

  app.post('/admin/v1/retention', guarded(async (request) => {
    const body = await jsonBody(request, ['rules', 'dryRun', 'gc']);
    const dryRun = booleanField(body, 'dryRun', 'body');
    const gcOptions = body.gc === undefined ? {} : objectWith(body.gc, ['enabled', 'gracePeriod'], 'gc');
    const gcEnabled = booleanField(gcOptions, 'enabled', 'gc');
    const gcGracePeriodMs = gracePeriod(gcOptions.gracePeriod, options.defaultGracePeriodMs);
    let rules;
    try {
      rules = validateRules(body.rules);
    } catch (error) {
      if (error instanceof PolicyError) throw registryError(ErrorCodes.ADMIN_REQUEST_INVALID, `invalid retention rules: ${error.message}`);
      throw error;
    }
    const retention = await runRetention(services.repositories, services.manifests, rules, { dryRun });
    const gc = gcEnabled
      ? await collector.collect({ gracePeriodMs: gcGracePeriodMs, uploadMaxAgeMs: options.uploadMaxAgeMs, dryRun })
      : undefined;
    request.log.info({ tagsDeleted: retention.tagsDeleted, manifestsDeleted: retention.manifestsDeleted, dryRun, gc }, 'retention finished');
    services.audit.succeeded(request, { detail: retentionAuditDetail(retentionRunSummary(retention, gc, new Date())) });
    await recordRun(request, () => options.runs.record('retention', retentionRunSummary(retention, gc, new Date())));
    return { ...retention, ...(gc ? { gc } : {}) };
  }));

  app.post('/admin/v1/backup', guarded(async (request) => {
    const body = await jsonBody(request, ['destination', 'keep']);
    const location = locationField(body.destination, 'destination');
    const keep = keepField(body.keep);
    const destinationName = describeLocation(location);
    const started = Date.now();
    backupsRunning++;
    try {
      const report = await runBackup({
        blobs: services.blobs,
        repositories: services.repositories,
        isMirror: (repository) => services.mirrors.service.target(repository) !== null,
      }, await openLocation(location), { destinationName, ...(keep !== undefined ? { keep } : {}) });
      request.log.info({ backup: report }, 'backup finished');
      services.audit.succeeded(request, { detail: { snapshot: report.snapshot, destination: destinationName, images: report.images, blobsCopied: report.blobsCopied, bytesCopied: report.bytesCopied } });
      await recordRun(request, () => options.runs.record('backup', backupRunSummary(report, new Date())));
      return report;
    } catch (error) {
      // refused before it began: no run to record
      if (error instanceof GcAlreadyRunningError) throw error;
      const message = (error as Error).message;
      request.log.error({ err: error, destination: destinationName }, 'backup failed');
      await recordRun(request, () => options.runs.record('backup', failedBackupSummary(destinationName, message, Date.now() - started, new Date())));
      // the operator needs the reason (a corrupt or missing blob, the destination refusing): storage errors name
      // paths, buckets and S3's answer, never a credential
      throw registryError(ErrorCodes.UNKNOWN, `backup failed: ${message}`);
    } finally {
      backupsRunning--;
    }
  }));

  // A restore into this serving registry, for a cluster whose new Registry starts empty: written through this
  // process's stores with garbage collection held off (a copied blob is unreferenced until its image's records
  // follow). Only into an empty store: this process trusts what it has cached of its own storage, and a forced
  // restore replaces tag files underneath it (the offline `regop-registry restore --force` has no such cache).
  app.post('/admin/v1/restore', guarded(async (request) => {
    const body = await jsonBody(request, ['source', 'snapshot']);
    const location = locationField(body.source, 'source');
    if (body.snapshot !== undefined && typeof body.snapshot !== 'string') badBody('snapshot must be a snapshot id (a string)', { snapshot: body.snapshot });
    const source = await openLocation(location);
    const report = await withGcHeldOff(services.blobs, () => runRestore(source, { driver: options.driver, repositories: services.repositories }, {
      sourceName: describeLocation(location),
      ...(body.snapshot ? { snapshot: body.snapshot as string } : {}),
    })).catch((error: unknown) => {
      if (error instanceof BackupError) {
        // --force is the offline command's; this API never replaces what a serving registry holds
        throw registryError(ErrorCodes.ADMIN_REQUEST_INVALID, `restore refused: ${error.message.replace(/, or give --force.*$/, ' (or stop the registry and run the offline regop-registry restore --force)')}`);
      }
      throw error;
    });
    await services.repositories.listRepositories({ fresh: true });
    request.log.info({ restore: report }, 'restore finished');
    services.audit.succeeded(request, { detail: { snapshot: report.snapshot, source: report.source, images: report.images, tags: report.tags } });
    return report;
  }));
}
