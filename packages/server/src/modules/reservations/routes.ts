import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Reservation, ReservationCommit, ReservationCreate } from '@keymaster/contract';
import { Type } from '@sinclair/typebox';
import { claimOf } from '../../http/idempotency.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toIso } from '../../json-column.js';
import { toApiDecision } from '../entitlements/convert.js';
import type { ReservationAnswer, ReservationService } from './service.js';

const tags = ['Usage'];
const ReservationParams = Type.Object({ id: Type.String() });

function toApiReservation(answer: ReservationAnswer): Reservation {
  const { row, request } = answer;
  return {
    id: row?.id ?? null,
    customer: request.customer,
    feature: request.feature,
    quantity: request.quantity,
    status: (row?.status ?? 'refused') as Reservation['status'],
    committed_quantity: row?.committed_quantity === null || row === null ? null : Number(row.committed_quantity),
    expires_at: row ? toIso(Number(row.expires_at)) : null,
    decision: toApiDecision(answer.decision),
  };
}

export const reservationRoutes: FastifyPluginAsyncTypebox<{ reservations: ReservationService }> = async (
  app,
  { reservations },
) => {
  app.post(
    '/v1/reservations',
    {
      schema: {
        tags,
        security,
        summary: 'Hold units',
        description:
          'Holds `quantity` units of a metered feature for work whose final cost is not known yet. Granted like a ' +
          'consume (201, `status: held`) or refused (200, `status: refused`, with the decision saying why). ' +
          'Commit it with the actual quantity, or release it; an unsettled hold gives its units back at `expires_at`.',
        body: ReservationCreate,
        response: { 200: Reservation, 201: Reservation, ...problemResponses },
      },
    },
    async (request, reply) => {
      const answer = await reservations.create({ body: request.body, claim: claimOf(request) });
      return reply.status(answer.row ? 201 : 200).send(toApiReservation(answer));
    },
  );

  app.post(
    '/v1/reservations/:id/commit',
    {
      schema: {
        tags,
        security,
        summary: 'Commit a hold',
        description: 'Records the actual quantity used in place of the held one. 409 once settled or expired.',
        params: ReservationParams,
        body: ReservationCommit,
        response: { 200: Reservation, ...problemResponses },
      },
    },
    async (request) =>
      toApiReservation(
        await reservations.commit({ id: request.params.id, body: request.body, claim: claimOf(request) }),
      ),
  );

  app.post(
    '/v1/reservations/:id/release',
    {
      schema: {
        tags,
        security,
        summary: 'Release a hold',
        description: 'Gives the held units back. 409 once settled or expired.',
        params: ReservationParams,
        response: { 200: Reservation, ...problemResponses },
      },
    },
    async (request) => toApiReservation(await reservations.release({ id: request.params.id, claim: claimOf(request) })),
  );
};
