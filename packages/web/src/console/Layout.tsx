import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ReactElement } from 'react';
import { NavLink, Outlet } from 'react-router';
import { useLiveUpdates } from './live';
import { sessionKey, useSession } from './session';

/** The console's sections, each shown to the roles that may read it. */
const sections: readonly { to: string; label: string; permission: string }[] = [
  { to: '/customers', label: 'Customers', permission: 'customers:read' },
  { to: '/features', label: 'Features', permission: 'catalog:read' },
  { to: '/plans', label: 'Plans', permission: 'catalog:read' },
  { to: '/alerts', label: 'Alerts', permission: 'webhooks:read' },
  { to: '/webhooks', label: 'Webhooks', permission: 'webhooks:read' },
  { to: '/reports', label: 'Reports', permission: 'reports:read' },
  { to: '/audit', label: 'Audit log', permission: 'audit:read' },
  { to: '/api-keys', label: 'API keys', permission: 'admin:read' },
  { to: '/users', label: 'Users', permission: 'admin:read' },
];

export function Layout(): ReactElement {
  const { api, session, can } = useSession();
  const queries = useQueryClient();
  useLiveUpdates(session !== null);
  const signOut = useMutation({
    mutationFn: () => api.delete('/v1/sessions/current'),
    onSettled: () => {
      queries.setQueryData(sessionKey, null);
      queries.clear();
    },
  });
  return (
    <div className="shell">
      <nav aria-label="Console">
        <NavLink to="/" className="brand">
          Keymaster
        </NavLink>
        <ul>
          {sections
            .filter((section) => can(section.permission))
            .map((section) => (
              <li key={section.to}>
                <NavLink to={section.to}>{section.label}</NavLink>
              </li>
            ))}
        </ul>
        <div className="who">
          <div>{session?.user.name ?? session?.user.email}</div>
          <div>{session?.user.role}</div>
          <button type="button" className="link" style={{ color: '#e6e8f0' }} onClick={() => signOut.mutate()}>
            Sign out
          </button>
        </div>
      </nav>
      <main>
        <Outlet />
      </main>
    </div>
  );
}
