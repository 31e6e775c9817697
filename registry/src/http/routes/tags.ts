// GET /v2/<name>/tags/list, paginated.
import { ErrorCodes, registryError } from '../../errors.ts';
import type { RouteGroupHandlers } from '../context.ts';
import { queryParam } from '../context.ts';
import { pageReply, pageRequest } from '../pagination.ts';

export const tagRoutes: RouteGroupHandlers = {
  GET: {
    requires: ['pull'],
    async handle({ request, reply, services, name }) {
      const wanted = pageRequest(queryParam(request, 'n'), queryParam(request, 'last'));
      const tags = await services.repositories.tagPage(name, wanted);
      if (tags.items.length === 0 && !(await services.repositories.repositoryExists(name))) {
        throw registryError(ErrorCodes.NAME_UNKNOWN, 'repository name not known to registry', { name });
      }
      const page = pageReply(tags, `/v2/${name}/tags/list`, wanted);
      if (page.link) reply.header('Link', page.link);
      reply.type('application/json').send({ name, tags: page.items });
    },
  },
};
