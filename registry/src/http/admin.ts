// The maintenance API the retention Job calls: garbage collection and retention run inside the serving
// process, where they can coordinate with uploads in flight (gc/guard.ts); a second process could not.
// Authenticated by a bearer token read from a file (a Kubernetes Secret), compared in constant time.
import { readFile } from 'node:fs/promises';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import ms from 'ms';
import { ErrorCodes, registryError } from '../errors.ts';
import type { GarbageCollector } from '../gc/collector.ts';
import { runRetention } from '../retention/executor.ts';
import { PolicyError, validateRules } from '../retention/policy.ts';
import type { Services } from './context.ts';
import { readBoundedBody } from './body.ts';

export interface AdminOptions {
  tokenFile: string;
  defaultGracePeriodMs: number;
  uploadMaxAgeMs: number;
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

function gracePeriod(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = typeof value === 'string' ? ms(value as ms.StringValue) : NaN;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
    throw registryError(ErrorCodes.UNSUPPORTED, 'gracePeriod must be a duration such as 1h', { gracePeriod: value });
  }
  return parsed;
}

async function jsonBody(request: FastifyRequest): Promise<Record<string, unknown>> {
  const body = await readBoundedBody(request.raw, 1024 * 1024);
  if (body.length === 0) return {};
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw registryError(ErrorCodes.UNSUPPORTED, 'body must be a JSON object');
}

export function registerAdminRoutes(app: FastifyInstance, services: Services, collector: GarbageCollector, options: AdminOptions): void {
  const guarded = (handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      request.routeGroup = 'admin';
      await requireAdmin(request, options.tokenFile);
      if (collector.running) throw registryError(ErrorCodes.TOOMANYREQUESTS, 'a garbage collection is already running');
      return reply.type('application/json').send(await handler(request, reply));
    };

  app.post('/admin/v1/gc', guarded(async (request) => {
    const body = await jsonBody(request);
    const report = await collector.collect({
      gracePeriodMs: gracePeriod(body.gracePeriod, options.defaultGracePeriodMs),
      uploadMaxAgeMs: options.uploadMaxAgeMs,
      dryRun: body.dryRun === true,
    });
    request.log.info({ gc: report }, 'garbage collection finished');
    return report;
  }));

  app.post('/admin/v1/retention', guarded(async (request) => {
    const body = await jsonBody(request);
    let rules;
    try {
      rules = validateRules(body.rules);
    } catch (error) {
      if (error instanceof PolicyError) throw registryError(ErrorCodes.UNSUPPORTED, `invalid retention rules: ${error.message}`);
      throw error;
    }
    const dryRun = body.dryRun === true;
    const retention = await runRetention(services.repositories, services.manifests, rules, { dryRun });
    const gcOptions = body.gc as { enabled?: boolean; gracePeriod?: string } | undefined;
    const gc = gcOptions?.enabled
      ? await collector.collect({
        gracePeriodMs: gracePeriod(gcOptions.gracePeriod, options.defaultGracePeriodMs),
        uploadMaxAgeMs: options.uploadMaxAgeMs,
        dryRun,
      })
      : undefined;
    request.log.info({ tagsDeleted: retention.tagsDeleted, manifestsDeleted: retention.manifestsDeleted, dryRun, gc }, 'retention finished');
    return { ...retention, ...(gc ? { gc } : {}) };
  }));
}
