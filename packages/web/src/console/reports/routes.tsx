import type { RouteObject } from 'react-router';
import { Loading } from '../../ui/forms';

/**
 * The reports page, loaded when first opened: its charts (Recharts) are most of its weight and
 * no other page needs them.
 */
export const reportRoutes: RouteObject[] = [
  {
    path: 'reports',
    hydrateFallbackElement: <Loading what="the reports" />,
    lazy: async () => ({ Component: (await import('./ReportsPage')).ReportsPage }),
  },
];
