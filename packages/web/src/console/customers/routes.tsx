import type { RouteObject } from 'react-router';
import { CustomerList } from './CustomerList';
import { CustomerPage } from './CustomerPage';

/** The customer pages: the searchable list and one customer's page. */
export const customerRoutes: RouteObject[] = [
  { path: 'customers', element: <CustomerList /> },
  { path: 'customers/:id', element: <CustomerPage /> },
];
