// The registry's HTTP application: one dispatcher for every /v2 route, after distribution's router. Authentication
// and the route's required rights are checked here, once, before any handler runs.
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import { ErrorCodes, registryError } from '../errors.ts';
import { assertRepositoryName } from '../oci/names.ts';
import { auditedApiRequest } from '../audit/requests.ts';
import { queryParam, type HttpMethod, type RouteGroupHandlers, type Services } from './context.ts';
import { applyConnectionLimits, type ConnectionLimits } from './connection-limits.ts';
import { handleError } from './error-handler.ts';
import { matchRoute, type RouteGroup } from './router.ts';
import { baseRoutes } from './routes/base.ts';
import { blobRoutes } from './routes/blobs.ts';
import { catalogRoutes } from './routes/catalog.ts';
import { manifestRoutes } from './routes/manifests.ts';
import { mirrorRouteGroups } from './routes/mirror.ts';
import { referrerRoutes } from './routes/referrers.ts';
import { tagRoutes } from './routes/tags.ts';
import { uploadRoutes } from './routes/uploads.ts';

const ROUTE_GROUPS: Record<RouteGroup, RouteGroupHandlers> = {
  base: baseRoutes,
  catalog: catalogRoutes,
  tags: tagRoutes,
  manifests: manifestRoutes,
  blobs: blobRoutes,
  uploads: uploadRoutes,
  referrers: referrerRoutes,
};

const METHODS: HttpMethod[] = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'];

declare module 'fastify' {
  interface FastifyRequest {
    routeGroup: string;
    user: string | null;
  }
}

export interface AppOptions {
  logger: Logger;
  tls?: SecureContextOptions;
  /** proxies (addresses or CIDRs) whose X-Forwarded-For gives request.ip; the client address of login limits */
  trustedProxies?: string[];
  limits?: ConnectionLimits;
}

export function buildRegistryApp(services: Services, options: AppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    // one access line per request is written by the onResponse hook below, without headers
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    // uploads of large layers take as long as they take; a stalled body is cut by the limits' idle timeout and
    // idle keep-alive sockets are reaped by keepAliveTimeout
    requestTimeout: 0,
    connectionTimeout: 0,
    return503OnClosing: true,
    // proxy-addr: X-Forwarded-For is read only through hops from these addresses; anyone else's header is ignored
    ...(options.trustedProxies?.length ? { trustProxy: options.trustedProxies } : {}),
    ...(options.tls ? { https: options.tls } : {}),
  }) as unknown as FastifyInstance;
  if (options.limits) applyConnectionLimits(app, options.limits);

  // Bodies are streamed by the handlers themselves: blobs to storage, manifests into a bounded buffer.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  app.decorateRequest('routeGroup', 'other');
  app.decorateRequest('user', null);
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0');
  });
  app.addHook('onResponse', async (request, reply) => {
    const seconds = reply.elapsedTime / 1000;
    services.metrics.requestFinished(request.routeGroup, request.method, reply.statusCode, seconds);
    if (request.method === 'GET') services.metrics.bytesSent(Number(reply.getHeader('content-length') ?? 0));
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        user: request.user,
        remote: request.ip,
      },
      'request',
    );
  });
  // an audited request that fails or is refused is recorded too (the handlers record successes)
  app.addHook('onError', async (request, _reply, error) => services.audit.failed(request, error));
  app.setErrorHandler((error, request, reply) => handleError(error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    handleError(registryError(ErrorCodes.NAME_UNKNOWN, 'no such endpoint'), request, reply);
  });

  const sendIdleTimeoutMs = options.limits?.idleTimeoutMs ?? 0;
  const dispatch = async (request: FastifyRequest, reply: import('fastify').FastifyReply) => {
    const pathname = request.url.split('?', 1)[0]!;
    const route = matchRoute(pathname);
    if (!route) throw registryError(ErrorCodes.NAME_UNKNOWN, 'no such endpoint', { path: pathname });
    request.routeGroup = route.group;
    // containerd names the registry it meant in `ns`: a mirrored one's repositories are under its prefix here,
    // and access rules apply to that name
    const mirrors = services.mirrors.service;
    const name = route.name === undefined ? '' : mirrors.routeName(route.name, queryParam(request, 'ns'));
    const groups = route.name !== undefined && mirrors.target(name) ? { ...ROUTE_GROUPS, ...mirrorRouteGroups } : ROUTE_GROUPS;
    const handler = groups[route.group]![request.method as HttpMethod];
    if (!handler) throw registryError(ErrorCodes.UNSUPPORTED, `${request.method} is not supported here`);

    const audited = auditedApiRequest(route, request.method, name, (key) => queryParam(request, key));
    if (audited) services.audit.expect(request, audited);
    const principal = await services.auth.authenticate(request.headers.authorization, request.ip, request);
    request.user = principal.user;
    if (route.name !== undefined) assertRepositoryName(name);
    if (Array.isArray(handler.requires)) {
      services.auth.requireAuthorization(principal, name, handler.requires);
    } else if (handler.requires === 'catalog' && !services.auth.canAccessCatalog(principal)) {
      throw registryError(ErrorCodes.UNAUTHORIZED, 'authentication required', null, {
        'WWW-Authenticate': services.auth.challenge(),
      });
    }
    await handler.handle({ request, reply, services, route, principal, name, sendIdleTimeoutMs });
    // an async handler must hand back the reply when it sent a stream, or fastify ends the response empty
    return reply;
  };
  app.route({ method: METHODS, url: '/v2', handler: dispatch, exposeHeadRoute: false });
  app.route({ method: METHODS, url: '/v2/*', handler: dispatch, exposeHeadRoute: false });
  return app;
}
