import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  CustomerParams,
  Notification,
  NotificationEmail,
  NotificationEmailListQuery,
  NotificationListQuery,
  NotificationParams,
  Page,
} from '@keymaster/contract';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiNotification, toApiNotificationEmail } from './convert.js';
import type { NotificationService } from './service.js';

const tags = ['Notifications'];

export const notificationRoutes: FastifyPluginAsyncTypebox<{ notifications: NotificationService }> = async (
  app,
  { notifications },
) => {
  app.get(
    '/v1/customers/:id/notifications',
    {
      config: { customerScope: 'params.id' },
      schema: {
        tags,
        security,
        summary: "A customer's notifications",
        description:
          'The in-app notifications made for the customer from alerts and lifecycle events, newest first; with ' +
          '`unread=true` only those not marked read. A customer token may read its own. See docs/notifications.md.',
        params: CustomerParams,
        querystring: NotificationListQuery,
        response: { 200: Page(Notification, 'A page of notifications, newest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await notifications.list({
        customer: request.params.id,
        unread: request.query.unread === true,
        before: decodeCursor(request.query.cursor),
        limit: limit + 1,
      });
      return toPage({ rows, limit, sortKey: (row) => row.id, convert: toApiNotification });
    },
  );

  app.post(
    '/v1/customers/:id/notifications/:nid/read',
    {
      config: { customerScope: 'params.id' },
      schema: {
        tags,
        security,
        summary: 'Mark a notification read',
        description: 'Sets `read_at` (marking it again keeps the first time). A customer token may mark its own.',
        params: NotificationParams,
        response: { 200: Notification, ...problemResponses },
      },
    },
    async (request) =>
      toApiNotification(await notifications.markRead({ customer: request.params.id, id: request.params.nid })),
  );

  app.get(
    '/v1/customers/:id/emails',
    {
      schema: {
        tags,
        security,
        summary: "A customer's notification emails",
        description:
          'The emails made of the customer’s notifications (when email is configured and the customer has an ' +
          '`email`), newest first: to whom, the subject, and whether it was sent, is waiting for a retry or ' +
          'failed. Secret keys only. See docs/notifications.md#email.',
        params: CustomerParams,
        querystring: NotificationEmailListQuery,
        response: { 200: Page(NotificationEmail, 'A page of emails, newest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await notifications.listEmails({
        customer: request.params.id,
        before: decodeCursor(request.query.cursor),
        limit: limit + 1,
      });
      return toPage({ rows, limit, sortKey: (row) => row.id, convert: toApiNotificationEmail });
    },
  );
};
