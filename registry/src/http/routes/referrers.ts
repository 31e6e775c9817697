// GET /v2/<name>/referrers/<digest>: an image index of the manifests whose subject is <digest>.
import { parseDigest } from '../../oci/digest.ts';
import { MediaTypes } from '../../oci/manifest.ts';
import type { RouteGroupHandlers } from '../context.ts';
import { queryParam } from '../context.ts';

export const referrerRoutes: RouteGroupHandlers = {
  GET: {
    requires: ['pull'],
    async handle({ request, reply, services, name, route }) {
      const subject = parseDigest(route.digest);
      let manifests = await services.repositories.listReferrers(name, subject);
      const artifactType = queryParam(request, 'artifactType');
      if (artifactType !== undefined) {
        manifests = manifests.filter((descriptor) => descriptor.artifactType === artifactType);
        reply.header('OCI-Filters-Applied', 'artifactType');
      }
      // a Buffer, so fastify does not append a charset to the OCI media type
      reply.type(MediaTypes.ociIndex).send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests })));
    },
  },
};
