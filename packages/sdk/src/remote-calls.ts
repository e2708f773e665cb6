import type { GaugeLevel, Reservation, Decision as ServerDecision, UsageHistory } from '@keymaster/contract';
import { buildSlot } from './cached-customer.js';
import type { Keymaster } from './client.js';
import { type Decision, fromServer } from './decision.js';
import { type HttpSettings, requestJson } from './http.js';
import type { Clock } from './options.js';
import type { SnapshotStore } from './snapshot-store.js';

/** What the client's method of that name takes (its first argument). */
type InputOf<M extends keyof Keymaster> = Keymaster[M] extends (input: infer I, ...rest: never[]) => unknown
  ? I
  : never;

/**
 * The calls the server answers every time — remote checks, consumption, reservations, gauge
 * levels and usage history — and keeping the cache in step with what they changed: a consume's
 * answer replaces the cached usage, the other writes refetch the customer if cached.
 */
export class RemoteCalls {
  constructor(
    private readonly deps: {
      http: HttpSettings;
      clock: Clock;
      store: SnapshotStore;
      onChange: (customer: string) => void;
    },
  ) {}

  /** See `Keymaster.checkRemote`. */
  async checkRemote(input: InputOf<'checkRemote'>): Promise<Decision> {
    const decision = await this.post<ServerDecision>('/v1/check', input);
    return fromServer(decision, this.nowIso());
  }

  /** See `Keymaster.consume`. */
  async consume(input: InputOf<'consume'>): Promise<Decision> {
    const decision = await this.post<ServerDecision>('/v1/consume', {
      customer: input.customer,
      feature: input.feature,
      ...(input.quantity === undefined ? {} : { quantity: input.quantity }),
      ...(input.idempotencyKey === undefined ? {} : { idempotency_key: input.idempotencyKey }),
    });
    this.updateFromDecision(decision);
    return fromServer(decision, this.nowIso());
  }

  /** See `Keymaster.reserve`. */
  async reserve(input: InputOf<'reserve'>): Promise<Reservation> {
    const reservation = await this.post<Reservation>('/v1/reservations', {
      customer: input.customer,
      feature: input.feature,
      quantity: input.quantity,
      ...(input.ttlSeconds === undefined ? {} : { ttl_seconds: input.ttlSeconds }),
    });
    this.refreshSoon(reservation.customer);
    return reservation;
  }

  /** See `Keymaster.commit`. */
  async commit(id: string, input: { quantity?: number }): Promise<Reservation> {
    const reservation = await this.post<Reservation>(`/v1/reservations/${encodeURIComponent(id)}/commit`, input);
    this.refreshSoon(reservation.customer);
    return reservation;
  }

  /** See `Keymaster.release`. */
  async release(id: string): Promise<Reservation> {
    const reservation = await this.post<Reservation>(`/v1/reservations/${encodeURIComponent(id)}/release`, {});
    this.refreshSoon(reservation.customer);
    return reservation;
  }

  /** See `Keymaster.setUsage`. */
  async setUsage(input: InputOf<'setUsage'>): Promise<number> {
    const level = await this.post<GaugeLevel>(`/v1/customers/${encodeURIComponent(input.customer)}/usage`, {
      feature: input.feature,
      ...(input.set === undefined ? {} : { set: input.set }),
      ...(input.delta === undefined ? {} : { delta: input.delta }),
    });
    this.refreshSoon(input.customer);
    return level.usage;
  }

  /** See `Keymaster.usageHistory`. */
  usageHistory(input: InputOf<'usageHistory'>): Promise<UsageHistory> {
    const query = new URLSearchParams({ feature: input.feature });
    const iso = (at: Date | string) => (typeof at === 'string' ? at : at.toISOString());
    if (input.from !== undefined) query.set('from', iso(input.from));
    if (input.to !== undefined) query.set('to', iso(input.to));
    if (input.granularity !== undefined) query.set('granularity', input.granularity);
    return requestJson<UsageHistory>(this.deps.http, {
      method: 'GET',
      path: `/v1/customers/${encodeURIComponent(input.customer)}/usage?${query}`,
      signal: this.deps.store.signal,
    });
  }

  /** Refetches the customer's snapshot if it is cached. */
  refreshSoon(customer: string): void {
    if (this.deps.store.cache.has(customer)) this.deps.store.loadQuietly(customer);
  }

  /** After a consume, the answer's usage replaces the cached one for that feature. */
  private updateFromDecision(decision: ServerDecision): void {
    const entry = this.deps.store.cache.get(decision.customer);
    if (!entry?.known || decision.type === null || !entry.slots.has(decision.feature)) return;
    const enabled = decision.allowed || decision.reason === 'limit_reached';
    entry.slots.set(
      decision.feature,
      buildSlot({
        customer: decision.customer,
        asOf: entry.asOf,
        entry: {
          feature: decision.feature,
          type: decision.type,
          enabled,
          reason: enabled ? 'entitled' : decision.reason,
          limit: decision.limit,
          unlimited: decision.unlimited,
          usage: decision.usage,
          balance: decision.balance,
          overage: decision.overage,
          reset: null,
          window: null,
          credit_cost: decision.credit_cost,
          resets_at: decision.resets_at,
          value: decision.value,
          source: null,
        },
      }),
    );
    this.deps.onChange(decision.customer);
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return requestJson<T>(this.deps.http, { method: 'POST', path, body, signal: this.deps.store.signal });
  }

  private nowIso(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }
}
