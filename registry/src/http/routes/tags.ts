// GET /v2/<name>/tags/list, paginated.
import { ErrorCodes, registryError } from '../../errors.ts';
import type { RouteGroupHandlers } from '../context.ts';
import { queryParam } from '../context.ts';
import { paginate } from '../pagination.ts';

export const tagRoutes: RouteGroupHandlers = {
  GET: {
    requires: ['pull'],
    async handle({ request, reply, services, name }) {
      const tags = await services.repositories.listTags(name);
      if (tags.length === 0 && !(await services.repositories.repositoryExists(name))) {
        throw registryError(ErrorCodes.NAME_UNKNOWN, 'repository name not known to registry', { name });
      }
      const page = paginate(tags, `/v2/${name}/tags/list`, queryParam(request, 'n'), queryParam(request, 'last'));
      if (page.link) reply.header('Link', page.link);
      reply.type('application/json').send({ name, tags: page.items });
    },
  },
};
