import type { RouteObject } from 'react-router';
import { ApiKeysPage } from './ApiKeysPage';
import { UsersPage } from './UsersPage';

/** The admin area: secret API keys and the console's users. */
export const adminRoutes: RouteObject[] = [
  { path: 'api-keys', element: <ApiKeysPage /> },
  { path: 'users', element: <UsersPage /> },
];
