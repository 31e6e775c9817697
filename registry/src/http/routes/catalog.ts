// GET /v2/_catalog: repositories the caller may pull, paginated.
import type { RouteGroupHandlers } from '../context.ts';
import { queryParam } from '../context.ts';
import { paginate } from '../pagination.ts';

export const catalogRoutes: RouteGroupHandlers = {
  GET: {
    requires: 'catalog',
    async handle({ request, reply, services, principal }) {
      const all = await services.repositories.listRepositories();
      const visible = services.auth.enabled
        ? all.filter((name) => services.auth.authorize(principal, name, 'pull'))
        : all;
      const page = paginate(visible, '/v2/_catalog', queryParam(request, 'n'), queryParam(request, 'last'));
      if (page.link) reply.header('Link', page.link);
      reply.type('application/json').send({ repositories: page.items });
    },
  },
};
