import { expect, it } from 'vitest';
import { manualClock } from '../../clock.js';
import { withTransaction } from '../../db/transaction.js';
import { plaintextSecrets } from '../../secrets-at-rest.js';
import { describeEachDialect, useMigratedDatabase } from '../../test-support/databases.js';
import { startReceiver } from '../../test-support/webhook-receiver.js';
import { emitDomainEvents } from '../outbox/emit.js';
import type { ResolvedAddress } from './address-policy.js';
import { createWebhookService } from './service.js';
import { createWebhookWorker } from './worker.js';

describeEachDialect('webhooks: the address is checked at every delivery', (dialect) => {
  const database = useMigratedDatabase(dialect);

  it('refuses a host that resolved to a public address at creation and to a private one now (DNS rebinding)', async () => {
    const { db } = database();
    const clock = manualClock(Date.parse('2026-03-01T00:00:00Z'));
    const receiver = await startReceiver();
    const port = new URL(receiver.url).port;
    let answer: ResolvedAddress = { address: '93.184.215.14', family: 4 };
    const resolve = async () => [answer];
    const service = createWebhookService({ db, clock, allowPrivate: false, secrets: plaintextSecrets, resolve });
    const endpoint = await service.create({ url: `https://rebind.example:${port}/hook` });
    const worker = createWebhookWorker({
      db,
      dialect,
      clock,
      logger: { warn: () => undefined },
      settings: { concurrency: 4, timeoutMs: 1000, pollMs: 60_000, allowPrivate: false },
      secrets: plaintextSecrets,
      resolve,
    });
    try {
      // The name now points at this machine, where the receiver listens.
      answer = { address: '127.0.0.1', family: 4 };
      await withTransaction(db, (tx) =>
        emitDomainEvents(
          tx,
          [{ type: 'subscription.created', customerId: 'acme', occurredAt: clock.now(), data: { subscription: {} } }],
          clock.now(),
        ),
      );
      await worker.runDue();
      expect(receiver.received).toHaveLength(0);
      const [attempt] = await service.attempts({ endpointId: endpoint.id, after: undefined, limit: 10 });
      expect(attempt).toMatchObject({ succeeded: 0, status_code: null, error: expect.stringMatching(/127\.0\.0\.1/) });
      // The next try is due 5 s after the attempt ended on the clock, which did not move.
      expect(attempt!.next_retry_at).toBe(clock.now() + 5000);
    } finally {
      await worker.stop();
      await receiver.close();
    }
  });
});
