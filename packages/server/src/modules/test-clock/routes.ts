import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { TestClockAdvance, TestClockNow } from '@keymaster/contract';
import { invalid } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { fromIso, toIso } from '../../json-column.js';

const tags = ['Test clock'];

/** A clock the test-clock routes may move. */
export interface SettableClock extends Clock {
  set(t: number): void;
}

/**
 * Simulated time (`KEYMASTER_TEST_CLOCK=true` only): the server's clock stands still until moved
 * forward, and moving it runs everything that fell due on the way — trial ends, renewals,
 * scheduled changes, cancellations, expiries, expired holds — before answering, so a year of a
 * subscription can be played through the API.
 */
export const testClockRoutes: FastifyPluginAsyncTypebox<{
  clock: SettableClock;
  runDue: (now: number) => Promise<void>;
}> = async (app, { clock, runDue }) => {
  app.get(
    '/v1/test-clock',
    {
      config: { readOnly: true },
      schema: {
        tags,
        security,
        summary: 'The simulated time',
        response: { 200: TestClockNow, ...problemResponses },
      },
    },
    async () => ({ now: toIso(clock.now()) }),
  );

  app.post(
    '/v1/test-clock/advance',
    {
      schema: {
        tags,
        security,
        summary: 'Move simulated time forward',
        description:
          'Moves the clock to `to` (never back) and runs everything that falls due on the way before answering.',
        body: TestClockAdvance,
        response: { 200: TestClockNow, ...problemResponses },
      },
    },
    async (request) => {
      const to = fromIso(request.body.to)!;
      if (to < clock.now()) {
        throw invalid([{ path: '/to', message: `must not be before the simulated time now, ${toIso(clock.now())}` }]);
      }
      clock.set(to);
      await runDue(to);
      return { now: toIso(clock.now()) };
    },
  );
};
