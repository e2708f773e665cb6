import type { ReactElement } from 'react';
import { createBrowserRouter, Navigate, type RouteObject, RouterProvider } from 'react-router';
import { ErrorAlert, Loading } from '../ui/forms';
import { adminRoutes } from './admin/routes';
import { auditRoutes } from './audit/routes';
import { catalogRoutes } from './catalog/routes';
import { customerRoutes } from './customers/routes';
import { Layout } from './Layout';
import { LinkPage } from './LinkPages';
import { reportRoutes } from './reports/routes';
import { SignIn } from './SignIn';
import { SessionProvider } from './session';
import { webhookRoutes } from './webhooks/routes';

/** The pages a signed-in user sees; each area keeps its own routes next to its pages. */
const signedIn: RouteObject[] = [
  { index: true, element: <Navigate to="/customers" replace /> },
  ...customerRoutes,
  ...catalogRoutes,
  ...webhookRoutes,
  ...reportRoutes,
  ...auditRoutes,
  ...adminRoutes,
  { path: '*', element: <ErrorAlert error={new Error('There is no such page in the console.')} /> },
];

/** Pages that one-time links open, without a session. */
const linkRoutes: RouteObject[] = [
  { path: '/accept-invitation', element: <LinkPage kind="invitation" /> },
  { path: '/reset-password', element: <LinkPage kind="password_reset" /> },
  { path: '/setup', element: <LinkPage kind="setup" /> },
];

function SignedInOnly(): ReactElement {
  return (
    <SessionProvider>
      {(session, loading) => (loading ? <Loading what="the console" /> : session ? <Layout /> : <SignIn />)}
    </SessionProvider>
  );
}

const router = createBrowserRouter([...linkRoutes, { path: '/', element: <SignedInOnly />, children: signedIn }]);

export function App(): ReactElement {
  return <RouterProvider router={router} />;
}
