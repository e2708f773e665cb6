import type { Notification } from '@keymaster/sdk';
import { useSyncExternalStore } from 'react';

/*
 * The customer portal's API (`/v1/portal…`) for the portal components: `PlanPicker`,
 * `UsageMeters`, and your own UI through `usePortalView`. The shapes below are those of
 * `@keymaster/contract`'s `Portal*` schemas (the fields the components read).
 */

/** A price in the currency's minor units (cents): `{ amount: 4900, currency: 'usd', interval: 'month' }`. */
export interface PortalPrice {
  amount: number;
  currency: string;
  interval: string;
}

/** What a plan enables, one feature. */
export interface PortalFeature {
  feature: string;
  name: string;
  type: string;
  limit: number | null;
  unlimited: boolean;
  reset: string | null;
  window: string | null;
}

/** A published base plan, as it stands against the customer's plan. */
export interface PortalPlan {
  key: string;
  name: string;
  description: string | null;
  price: PortalPrice | null;
  features: PortalFeature[];
  relation: 'current' | 'upgrade' | 'downgrade';
}

/** A published add-on and how many of it the customer's subscription has. */
export interface PortalAddOn {
  key: string;
  name: string;
  description: string | null;
  price: PortalPrice | null;
  features: PortalFeature[];
  quantity: number;
}

/** The customer's subscription (the fields the portal shows). */
export interface PortalSubscription {
  id: string;
  customer: string;
  plan: string;
  plan_version: number;
  status: string;
  current_period_start: string;
  current_period_end: string;
  trial_end: string | null;
  cancel_at: string | null;
  canceled_at: string | null;
  ends_at: string | null;
  scheduled_change: { plan: string; plan_version: number; at: string } | null;
  add_ons: { plan: string; plan_version: number; quantity: number }[];
}

/** One feature as the customer has it now. */
export interface PortalEntitlement {
  feature: string;
  type: string;
  enabled: boolean;
  reason: string;
  limit: number | null;
  unlimited: boolean;
  usage: number | null;
  balance: number | null;
  reset: string | null;
  window: string | null;
  resets_at: string | null;
}

/** Everything the portal shows a customer: `GET /v1/portal`. */
export interface PortalView {
  customer: { id: string; name: string | null };
  subscription: PortalSubscription | null;
  /** Published base plans, cheapest first. */
  plans: PortalPlan[];
  add_ons: PortalAddOn[];
  entitlements: PortalEntitlement[];
  /** The newest 20. */
  notifications: Notification[];
  /** Where the portal's "Back" link leads, if the link was made with one. */
  return_url: string | null;
  /**
   * How plan changes are made: `keymaster` here (`change`, `setAddOn`, `cancel`…); `stripe`
   * through Stripe (`checkout` to subscribe, `billingPortal` for a subscription Stripe bills);
   * `contract` not in the portal (a signed contract sets the plan). Absent from older servers:
   * `keymaster`.
   */
  billing?: PortalBilling;
}

export type PortalBilling = 'keymaster' | 'stripe' | 'contract';

/** How the customer's plan is changed (`view.billing`, `keymaster` when the server does not say). */
export const billingOf = (view: PortalView): PortalBilling => view.billing ?? 'keymaster';

export type PortalWhen = 'now' | 'period_end';

interface PortalTerms {
  enabled: boolean;
  limit: number | null;
}

/** What a plan change would do (`POST /v1/portal/preview`); asking changes nothing. */
export interface PortalChangePreview {
  plan: string;
  relation: 'upgrade' | 'downgrade';
  when: PortalWhen;
  /** When the change would take effect. */
  at: string;
  price_now: PortalPrice | null;
  price_after: PortalPrice | null;
  /** Features the customer would get. */
  gains: string[];
  /** Features the customer would lose. */
  losses: string[];
  changes: { feature: string; from: PortalTerms; to: PortalTerms }[];
  /** Where current usage already exceeds the new plan's limit. */
  over_limit: { feature: string; usage: number; limit: number }[];
}

/** A failed portal request: the server's problem document (RFC 9457). */
export class PortalError extends Error {
  readonly status: number;
  readonly code: string;
  readonly errors: readonly { path: string; message: string }[];

  constructor(problem: { status: number; code: string; detail?: string; title?: string; errors?: unknown }) {
    super(problem.detail ?? problem.title ?? `The server answered ${problem.status}.`);
    this.name = 'PortalError';
    this.status = problem.status;
    this.code = problem.code;
    this.errors = Array.isArray(problem.errors) ? (problem.errors as { path: string; message: string }[]) : [];
  }

  /** The link or the session has expired, or is not valid: open the portal again from the app. */
  get expired(): boolean {
    return this.status === 401;
  }
}

/** The portal view as the components read it: the last view fetched, and the last failure. */
export interface PortalViewState {
  /** Null until the first answer. */
  view: PortalView | null;
  /** The last fetch's failure (`PortalError`, or a network error); null once one succeeds. */
  error: Error | null;
  /** True until the first fetch has answered. */
  loading: boolean;
}

export interface PortalClientOptions {
  /** Keymaster's address, e.g. `https://keymaster.example.com`; the page's own origin by default. */
  baseUrl?: string;
  /**
   * The portal link's `token` (`POST /v1/portal-sessions` answers it), sent as
   * `Authorization: Bearer`. Without it the client uses the same-origin `km_portal` cookie.
   */
  token?: string;
  /** With the cookie: the session's `csrf_token`, sent as `X-CSRF-Token` on every change. */
  csrfToken?: string | (() => string | undefined);
  /**
   * How often the view is fetched again while a component shows it and the page is visible
   * (ms; default 15 000; 0: never). It is also fetched when the window regains focus, and after
   * every change made through the client.
   */
  refreshIntervalMs?: number;
  fetch?: typeof fetch;
}

/** A client of the customer portal's API, holding the one view its components share. */
export interface PortalClient {
  /** `GET /v1/portal`, fetched now (the shared view is updated with the answer). */
  view(): Promise<PortalView>;
  /** `POST /v1/portal/preview`: what changing to `plan` would do. Changes nothing. */
  preview(plan: string, when?: PortalWhen): Promise<PortalChangePreview>;
  /**
   * `POST /v1/portal/change`: changes to `plan` (subscribes if the customer has no live
   * subscription). Upgrades take effect now and downgrades at period end unless `when` says.
   */
  change(plan: string, when?: PortalWhen): Promise<PortalSubscription>;
  /** `POST /v1/portal/add-ons`: sets how many of an add-on the subscription has (0 removes it). */
  setAddOn(plan: string, quantity: number): Promise<PortalSubscription>;
  /** `POST /v1/portal/cancel`: cancels at the end of the current period. */
  cancel(): Promise<PortalSubscription>;
  /** `POST /v1/portal/undo-cancel`: keeps the subscription after all. */
  undoCancel(): Promise<PortalSubscription>;
  /** `POST /v1/portal/checkout` (billing `stripe`, no subscription): a Stripe Checkout session's `url` for `plan`. */
  checkout(plan: string): Promise<{ url: string }>;
  /** `POST /v1/portal/billing-portal` (a subscription Stripe bills): a Stripe billing-portal session's `url`. */
  billingPortal(): Promise<{ url: string }>;
  /** `DELETE /v1/portal/session`: ends the cookie session. */
  endSession(): Promise<void>;
  /** The shared view now (a new object whenever it changes), for `useSyncExternalStore`. */
  getSnapshot(): PortalViewState;
  /** Called whenever the shared view changes; while anything listens, the view is kept fresh. */
  subscribe(listener: () => void): () => void;
  /** Fetches the shared view again; answers once the newer view (or its failure) is in. */
  refresh(): Promise<void>;
}

async function problemOf(response: Response): Promise<PortalError> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { code?: unknown; detail?: string; title?: string; errors?: unknown };
    if (typeof body.code === 'string') return new PortalError({ ...body, status: response.status, code: body.code });
  } catch {
    // Not a problem document (a proxy's error page): described by its status below.
  }
  return new PortalError({
    status: response.status,
    code: 'unexpected_response',
    detail: `The server answered ${response.status} ${response.statusText}.`,
  });
}

/**
 * Makes a client of the portal API. In your own app, pass the `token` of a portal link your
 * backend asked for (`POST /v1/portal-sessions` with your secret key): it stands for that one
 * customer for an hour. Keymaster's portal page uses the cookie instead, with its CSRF token.
 *
 * @example
 * const client = createPortalClient({ baseUrl: 'https://keymaster.example.com', token });
 * <PlanPicker client={client} />
 */
export function createPortalClient(options: PortalClientOptions = {}): PortalClient {
  const base = (options.baseUrl ?? '').replace(/\/+$/, '');
  const send = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const interval = options.refreshIntervalMs ?? 15_000;

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    else if (method !== 'GET') {
      const csrf = typeof options.csrfToken === 'function' ? options.csrfToken() : options.csrfToken;
      if (csrf) headers['x-csrf-token'] = csrf;
    }
    const response = await send(`${base}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      // A bearer token is the whole credential; otherwise the portal's same-origin cookie.
      credentials: options.token ? 'omit' : 'same-origin',
    });
    if (!response.ok) throw await problemOf(response);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  let state: PortalViewState = { view: null, error: null, loading: true };
  let loadedAt = 0;
  const listeners = new Set<() => void>();
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;

  function publish(next: PortalViewState): void {
    state = next;
    for (const listener of [...listeners]) listener();
  }

  async function load(): Promise<PortalView> {
    try {
      const view = await request<PortalView>('GET', '/v1/portal');
      loadedAt = Date.now();
      publish({ view, error: null, loading: false });
      return view;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      // A failed refresh keeps the view it had: a passing network blip should not blank the page.
      publish({ view: state.view, error: failure, loading: false });
      throw failure;
    }
  }

  function refresh(): Promise<void> {
    if (running === null) {
      running = load()
        .then(() => undefined)
        .catch(() => undefined)
        .finally(() => {
          running = null;
        });
      return running;
    }
    // One is in flight but may have been asked before a change: one more after it.
    queued ??= running.then(() => {
      queued = null;
      return refresh();
    });
    return queued;
  }

  async function changed<T>(made: Promise<T>): Promise<T> {
    const result = await made;
    await refresh();
    return result;
  }

  let timer: ReturnType<typeof setInterval> | null = null;
  const visible = () => typeof document === 'undefined' || document.visibilityState !== 'hidden';
  const onFocus = () => {
    if (visible() && Date.now() - loadedAt > 1_000) void refresh();
  };

  function start(): void {
    if (state.view === null || Date.now() - loadedAt > 1_000) void refresh();
    if (interval > 0) timer = setInterval(() => visible() && void refresh(), interval);
    if (typeof window !== 'undefined') {
      window.addEventListener('focus', onFocus);
      document.addEventListener('visibilitychange', onFocus);
    }
  }

  function stop(): void {
    if (timer !== null) clearInterval(timer);
    timer = null;
    if (typeof window !== 'undefined') {
      window.removeEventListener('focus', onFocus);
      document.removeEventListener('visibilitychange', onFocus);
    }
  }

  return {
    view: load,
    preview: (plan, when) => request('POST', '/v1/portal/preview', { plan, ...(when ? { when } : {}) }),
    change: (plan, when) => changed(request('POST', '/v1/portal/change', { plan, ...(when ? { when } : {}) })),
    setAddOn: (plan, quantity) => changed(request('POST', '/v1/portal/add-ons', { plan, quantity })),
    cancel: () => changed(request('POST', '/v1/portal/cancel', {})),
    undoCancel: () => changed(request('POST', '/v1/portal/undo-cancel', {})),
    checkout: (plan) => request('POST', '/v1/portal/checkout', { plan }),
    billingPortal: () => request('POST', '/v1/portal/billing-portal', {}),
    endSession: () => request('DELETE', '/v1/portal/session'),
    getSnapshot: () => state,
    subscribe(listener) {
      listeners.add(listener);
      if (listeners.size === 1) start();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) stop();
      };
    },
    refresh,
  };
}

/**
 * The portal view a client holds, shared by every component on that client and kept fresh
 * while shown (see `refreshIntervalMs`). For UI of your own beside `PlanPicker` and `UsageMeters`.
 *
 * @example
 * const { view } = usePortalView(client);
 * return <p>{view?.subscription?.cancel_at ? 'Cancels at period end' : null}</p>;
 */
export function usePortalView(client: PortalClient): PortalViewState {
  return useSyncExternalStore(client.subscribe, client.getSnapshot, client.getSnapshot);
}

/** The customer's subscription if it still runs (not canceled or expired): what changes apply to. */
export function liveSubscription(view: PortalView): PortalSubscription | null {
  const subscription = view.subscription;
  return subscription && subscription.status !== 'canceled' && subscription.status !== 'expired' ? subscription : null;
}
