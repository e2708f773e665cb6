import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../modules/api-keys/service.js';
import { sendProblem, unauthenticatedProblem } from './problems.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

/** The principal an `Authorization: Bearer <key>` header authenticates, if any. */
export function principalFrom(
  header: string | undefined,
  authenticate: (secret: string) => Principal | undefined,
): Principal | undefined {
  return header !== undefined && header.length > 7 && header.slice(0, 7).toLowerCase() === 'bearer '
    ? authenticate(header.slice(7).trim())
    : undefined;
}

/**
 * Every /v1 route needs a secret key as `Authorization: Bearer <key>`. A missing, malformed,
 * unknown or revoked key all get the same answer, so the response never hints which it was.
 */
export function requireApiKey(authenticate: (secret: string) => Principal | undefined) {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const principal = principalFrom(request.headers.authorization, authenticate);
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="keymaster"');
      sendProblem(request, reply, unauthenticatedProblem);
      return;
    }
    request.principal = principal;
    done();
  };
}
