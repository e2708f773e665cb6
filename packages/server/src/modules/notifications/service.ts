import { ErrorCodes, notFound } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import { listEmails } from './email-store.js';
import { listNotifications, markNotificationRead } from './store.js';

export type NotificationService = ReturnType<typeof createNotificationService>;

/**
 * Reading and marking a customer's in-app notifications (the `notifications` consumer makes them),
 * and listing the emails sent of them.
 */
export function createNotificationService(deps: { db: Db; clock: Clock }) {
  const { db } = deps;

  async function requireCustomer(customer: string): Promise<void> {
    const row = await db.selectFrom('customers').select('id').where('id', '=', customer).executeTakeFirst();
    if (!row) throw notFound(ErrorCodes.customerNotFound, `Customer "${customer}" does not exist.`);
  }

  return {
    async list(input: { customer: string; unread: boolean; before: string | undefined; limit: number }) {
      await requireCustomer(input.customer);
      return listNotifications(db, input);
    },

    async listEmails(input: { customer: string; before: string | undefined; limit: number }) {
      await requireCustomer(input.customer);
      return listEmails(db, input);
    },

    async markRead(input: { customer: string; id: string }) {
      const row = await withTransaction(db, (tx) => markNotificationRead(tx, { ...input, now: deps.clock.now() }));
      if (!row) {
        await requireCustomer(input.customer);
        throw notFound(
          ErrorCodes.notificationNotFound,
          `Notification "${input.id}" does not exist for customer "${input.customer}".`,
        );
      }
      return row;
    },
  };
}
