import type { FastifyRequest } from 'fastify';
import type { AuditActor } from '../modules/audit/trail.js';

/**
 * Who made a change through the API, for the audit trail: the API key that authenticated the
 * request, and the request's id so a row can be matched to its log lines.
 */
export function auditActorOf(request: FastifyRequest): AuditActor {
  const user = request.principal?.user;
  if (user !== undefined) return { type: 'user', id: user.userId, requestId: request.id };
  return { type: 'api_key', id: request.principal?.keyId ?? 'unknown', requestId: request.id };
}
