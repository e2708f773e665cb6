import type { RouteObject } from 'react-router';
import { AuditPage } from './AuditPage';

/** The audit trail and its verification. */
export const auditRoutes: RouteObject[] = [{ path: 'audit', element: <AuditPage /> }];
