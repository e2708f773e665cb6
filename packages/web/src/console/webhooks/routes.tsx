import type { RouteObject } from 'react-router';
import { AlertsPage } from './AlertsPage';
import { WebhooksPage } from './WebhooksPage';

/** Outbound webhooks (endpoints and their delivery log) and the usage alert rules that feed them. */
export const webhookRoutes: RouteObject[] = [
  { path: 'webhooks', element: <WebhooksPage /> },
  { path: 'alerts', element: <AlertsPage /> },
];
