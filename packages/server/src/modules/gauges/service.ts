import type { GaugeUpdate } from '@keymaster/contract';
import { ErrorCodes, invalid, notFound } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { adjustGauge } from '../counters/store.js';
import { findCustomer } from '../customers/store.js';
import { findFeature } from '../features/store.js';

export type GaugeService = ReturnType<typeof createGaugeService>;

/**
 * Gauges record how much of something a customer has now. Recording is not asking: the level is
 * written whatever the cap (12 seats exist even on a 10-seat plan); `check` with a quantity is
 * how the product asks "may I add n more?".
 */
export function createGaugeService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;
  return {
    async setGauge(input: { customerId: string; body: GaugeUpdate; claim?: EffectClaim | undefined }): Promise<number> {
      const { body } = input;
      if ((body.set === undefined) === (body.delta === undefined)) {
        throw invalid([{ path: '/set', message: 'give exactly one of set or delta' }]);
      }
      return withTransaction({ db, claim: input.claim }, async (tx) => {
        if (!(await findCustomer(tx, input.customerId))) {
          throw notFound(ErrorCodes.customerNotFound, `Customer "${input.customerId}" does not exist.`);
        }
        const feature = await findFeature(tx, body.feature);
        if (!feature) throw invalid([{ path: '/feature', message: `unknown feature "${body.feature}"` }]);
        if (feature.type !== 'gauge') {
          throw invalid([
            {
              path: '/feature',
              message: `"${body.feature}" is ${feature.type}: only gauges are set; metered usage comes from events`,
            },
          ]);
        }
        const level = await adjustGauge(tx, {
          customerId: input.customerId,
          feature: body.feature,
          set: body.set,
          delta: body.delta,
          now: clock.now(),
        });
        if (level === null) throw invalid([{ path: '/delta', message: 'would take the level below 0' }]);
        return level;
      });
    },
  };
}
