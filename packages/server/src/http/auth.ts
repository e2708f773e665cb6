import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../modules/api-keys/service.js';
import { sendProblem } from './problems.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

/**
 * Every /v1 route needs a secret key as `Authorization: Bearer <key>`. A missing, malformed,
 * unknown or revoked key all get the same answer, so the response never hints which it was.
 */
export function requireApiKey(authenticate: (secret: string) => Principal | undefined) {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const header = request.headers.authorization;
    const principal =
      header !== undefined && header.length > 7 && header.slice(0, 7).toLowerCase() === 'bearer '
        ? authenticate(header.slice(7).trim())
        : undefined;
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="keymaster"');
      sendProblem(request, reply, {
        status: 401,
        code: 'unauthenticated',
        detail: 'A valid API key is required: send it as "Authorization: Bearer <key>".',
      });
      return;
    }
    request.principal = principal;
    done();
  };
}
