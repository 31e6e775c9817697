// GET / HEAD /v2/: the version check. Clients log in by calling it with credentials, so an anonymous caller on a
// registry with auth gets the challenge even when anonymous pull is on; otherwise `docker login` would
// report success without checking the password.
import { ErrorCodes, registryError } from '../../errors.ts';
import type { RouteGroupHandlers, RouteHandler } from '../context.ts';

const versionCheck: RouteHandler = {
  requires: 'login',
  async handle({ reply, services, principal }) {
    if (services.auth.enabled && principal.user === null) {
      throw registryError(ErrorCodes.UNAUTHORIZED, 'authentication required', null, {
        'WWW-Authenticate': services.auth.challenge(),
      });
    }
    // on HEAD, Node sends the headers (Content-Length included) and drops the body
    reply.type('application/json').send('{}');
  },
};

export const baseRoutes: RouteGroupHandlers = { GET: versionCheck, HEAD: versionCheck };
