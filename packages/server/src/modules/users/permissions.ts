import type { ApiKeyScope } from '@keymaster/contract';

/**
 * What each console role and each API key scope may do, in one table. Every `/v1` route belongs
 * to an area by its path; a role or a scope grants a set of `<area>:read` (GET and HEAD) and
 * `<area>:write` (everything else) permissions. A route no area claims is `admin`'s: a new route
 * is closed to every role but owner and admin, and to every key scope but `admin`, until it is
 * placed here (routes.test.ts checks every route of the API is).
 */
export const Roles = ['owner', 'admin', 'support', 'finance', 'viewer'] as const;
export type Role = (typeof Roles)[number];

export const Areas = [
  'catalog',
  'customers',
  'usage',
  'check',
  'reports',
  'audit',
  'webhooks',
  'admin',
  // Prometheus metrics: a scraper's key needs nothing else.
  'metrics',
  // A user's own session: every role signs out and reads who it is.
  'self',
] as const;
export type Area = (typeof Areas)[number];
export type Permission = `${Area}:${'read' | 'write'}`;

/** Route path prefixes and the area they belong to; the longest matching prefix wins. */
const areaPrefixes: readonly (readonly [string, Area])[] = [
  ['/v1/sessions', 'self'],
  // Used with a one-time link, without signing in (anonymous routes).
  ['/v1/invitations', 'self'],
  ['/v1/password-resets', 'self'],
  ['/v1/setup', 'self'],
  ['/v1/features', 'catalog'],
  ['/v1/plans', 'catalog'],
  ['/v1/contracts', 'customers'],
  ['/v1/customers', 'customers'],
  ['/v1/customers/:id/entitlements', 'check'],
  ['/v1/customers/:id/usage', 'usage'],
  ['/v1/customers/:id/export', 'customers'],
  ['/v1/subscriptions', 'customers'],
  ['/v1/grants', 'customers'],
  // A customer token opens only checks of its customer: minting one needs no more than checking.
  ['/v1/customer-tokens', 'check'],
  ['/v1/portal-sessions', 'customers'],
  // The customer portal's own routes: a portal session opens them, never a console session.
  ['/v1/portal', 'customers'],
  ['/v1/check', 'check'],
  ['/v1/stream', 'check'],
  ['/ofrep', 'check'],
  ['/v1/events', 'usage'],
  ['/v1/consume', 'usage'],
  ['/v1/reservations', 'usage'],
  ['/v1/gauges', 'usage'],
  ['/v1/reports', 'reports'],
  ['/v1/audit-events', 'audit'],
  ['/v1/decisions', 'audit'],
  ['/v1/webhook-endpoints', 'webhooks'],
  ['/v1/webhook-deliveries', 'webhooks'],
  ['/v1/alert-rules', 'webhooks'],
  ['/v1/api-keys', 'admin'],
  ['/v1/users', 'admin'],
  ['/v1/integrations', 'admin'],
  ['/v1/test-clock', 'admin'],
  ['/metrics', 'metrics'],
];

/** The area the table places a route in (`/v1/customers/:id/grants`), or undefined. */
export function placedArea(route: string): Area | undefined {
  let best: readonly [string, Area] | undefined;
  for (const entry of areaPrefixes) {
    const [prefix] = entry;
    if ((route === prefix || route.startsWith(`${prefix}/`)) && (!best || prefix.length > best[0].length)) best = entry;
  }
  return best?.[1];
}

/** The area of a route: where the table places it, else `admin` (closed to the other roles). */
export function areaOf(route: string): Area {
  return placedArea(route) ?? 'admin';
}

const reads = (...areas: Area[]): Permission[] => areas.map((area) => `${area}:read` as const);
const writes = (...areas: Area[]): Permission[] => areas.map((area) => `${area}:write` as const);
const everything: Permission[] = [...reads(...Areas), ...writes(...Areas)];
const readsButAdmin: Permission[] = [
  ...reads('catalog', 'customers', 'usage', 'check', 'webhooks', 'self'),
  ...writes('self'),
];

/**
 * owner and admin: everything (only an owner may make or unmake owners, see the user service).
 * support: customers, their subscriptions, grants and notifications; reads the catalog and usage.
 * finance: reports (and storing them) and the audit trail; reads everything else. viewer: reads, without reports,
 * the audit trail or the people and keys.
 */
export const rolePermissions: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  owner: new Set(everything),
  admin: new Set(everything),
  support: new Set([...readsButAdmin, ...writes('customers')]),
  finance: new Set([...readsButAdmin, ...reads('reports', 'audit'), ...writes('reports')]),
  viewer: new Set(readsButAdmin),
};

/**
 * The permission a request needs: its route's area, read for GET and HEAD, write otherwise — but
 * a check (`POST /v1/check`, OFREP's evaluations) only reads, whatever its method.
 */
export function permissionFor(method: string, route: string): Permission {
  const area = areaOf(route);
  return `${area}:${area === 'check' || method === 'GET' || method === 'HEAD' ? 'read' : 'write'}`;
}

export function allows(role: Role, method: string, route: string): boolean {
  return rolePermissions[role].has(routePermission(method, route));
}

/** What an API key may be given (the list is the API contract's, `ApiKeyScopes`). */
export type Scope = ApiKeyScope;

/** What each scope grants; a key holds the union of its scopes'. A `…:write` scope includes its `…:read`. */
const scopePermissions: Readonly<Record<Scope, readonly Permission[]>> = {
  admin: everything,
  'catalog:read': reads('catalog'),
  'catalog:write': [...reads('catalog'), ...writes('catalog')],
  // A customer's usage is part of what reading a customer shows.
  'customers:read': reads('customers', 'usage'),
  'customers:write': [...reads('customers', 'usage'), ...writes('customers')],
  // Checks, entitlements, the stream, OFREP, and minting customer tokens (which open only those).
  check: reads('check'),
  'usage:read': reads('usage'),
  // Events, consume, reservations and gauges.
  'usage:write': [...reads('usage'), ...writes('usage')],
  'reports:read': reads('reports'),
  // Storing a report.
  'reports:write': [...reads('reports'), ...writes('reports')],
  // Verifying the chain and making a checkpoint change nothing the trail says: they are reading it.
  'audit:read': [...reads('audit'), ...writes('audit')],
  'webhooks:read': reads('webhooks'),
  'webhooks:write': [...reads('webhooks'), ...writes('webhooks')],
  'metrics:read': reads('metrics'),
};

/** The permissions a set of scopes grants. */
export function scopesGrant(scopes: readonly Scope[]): ReadonlySet<Permission> {
  return new Set(scopes.flatMap((scope) => scopePermissions[scope]));
}

/** The narrowest scope that grants a permission: what a refusal tells the caller to add. */
export function scopeFor(permission: Permission): Scope {
  const [area, access] = permission.split(':') as [Area, 'read' | 'write'];
  if (area === 'check') return 'check';
  if (area === 'admin' || area === 'self') return 'admin';
  if (area === 'audit') return 'audit:read';
  if (area === 'metrics') return 'metrics:read';
  return `${area}:${access}` as Scope;
}

const memo = new Map<string, Map<string, Permission>>();

/** `permissionFor`, remembered per method and route: keys are checked on every request, checks included. */
export function routePermission(method: string, route: string): Permission {
  let byRoute = memo.get(method);
  if (byRoute === undefined) {
    byRoute = new Map();
    memo.set(method, byRoute);
  }
  let permission = byRoute.get(route);
  if (permission === undefined) {
    permission = permissionFor(method, route);
    byRoute.set(route, permission);
  }
  return permission;
}
