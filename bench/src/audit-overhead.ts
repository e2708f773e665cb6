import { compareRounds, type RoundsComparison, roundOrder, type Side, settlingSettings } from './ab-rounds.js';
import type { ChildServer } from './child-server.js';
import { type LoadResult, type LoadSettings, type RequestSpec, runLoad } from './http-load.js';
import type { KeymasterApi } from './keymaster-api.js';
import { type BenchDatabase, type DatabaseChoice, startSeededKeymaster } from './seeded-server.js';
import { round } from './stats.js';

/** One load run, on the server that skips its audit rows or on the one that writes them. */
export interface AuditRound {
  server: Side;
  load: LoadResult;
  /**
   * Audit rows appended during the measured run (the head's `seq` before and after): the writes
   * answered, and the few still in flight when the load stopped. 0 on the baseline.
   */
  auditRows: number;
}

export interface AuditOverheadPoint extends RoundsComparison {
  database: BenchDatabase;
  /** In the order they ran: baseline, variant, baseline, … , baseline. */
  rounds: AuditRound[];
  /** Audit rows per write answered, over the variant's measured runs (1 when every write wrote one). */
  auditRowsPerWrite: number;
  /** `GET /v1/audit-events/verify` on the variant after the rounds: every link of what they appended. */
  verified: { ok: boolean; count: number };
}

export interface AuditOverheadResult {
  settings: LoadSettings;
  customers: number;
  variantRounds: number;
  /** What the load sends, e.g. `PUT /v1/customers/{id}`. */
  route: string;
  points: AuditOverheadPoint[];
}

/**
 * A customer's PUT that changes the name every time it is sent (`[<id>]` becomes a new random id
 * on each send, see `runLoad`'s `uniqueIds`): an update, so one `customer.updated` row each.
 */
function renameOf(customer: string): RequestSpec {
  return {
    method: 'PUT',
    path: `/v1/customers/${encodeURIComponent(customer)}`,
    body: JSON.stringify({ name: 'Customer [<id>]' }),
  };
}

/**
 * What writing its audit row costs a write route. Two servers of the same build, seeded alike
 * (the benchmark catalog, `customers` on `pro`): the **baseline** started with the
 * benchmark-only `KEYMASTER_BENCHMARK_SKIP_AUDIT=true` (a change skips its audit row entirely:
 * no insert, nothing to seal), the **variant** as shipped.
 * The load is `PUT /v1/customers/{id}` over every customer in turn, each renaming its customer
 * (a new name on every send), so every request is an update in one transaction and, on the
 * variant, appends one audit row in it, which the server's sealer chains (hashes into
 * `audit_events`) during the same measured run: the cheapest write the API audits, where the row
 * is the largest share of the work. After an unmeasured settling run on
 * each, rounds baseline, variant, baseline, …; each variant round against the baseline rounds on
 * either side of it. At the end the variant's chain is verified.
 */
export async function benchAuditOverhead(input: {
  targets: readonly DatabaseChoice[];
  customers: number;
  variantRounds: number;
  settings: LoadSettings;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<AuditOverheadResult> {
  const points: AuditOverheadPoint[] = [];
  for (const target of input.targets) {
    const servers: ChildServer[] = [];
    try {
      input.log(`${target.database}: the baseline server, audit rows off (KEYMASTER_BENCHMARK_SKIP_AUDIT)`);
      const baseline = await startSeededKeymaster({
        ...input,
        target,
        env: { KEYMASTER_BENCHMARK_SKIP_AUDIT: 'true' },
      });
      servers.push(baseline.server);
      input.log(`${target.database}: the server writing audit rows`);
      const variant = await startSeededKeymaster({ ...input, target });
      servers.push(variant.server);
      if ((await auditHead(baseline.api)) !== 0) {
        throw new Error('the baseline server wrote audit rows: KEYMASTER_BENCHMARK_SKIP_AUDIT did not take');
      }

      const requests = baseline.ids.map(renameOf);
      const load = (
        side: { server: ChildServer; api: KeymasterApi },
        settings: LoadSettings,
        before?: () => Promise<void>,
      ) =>
        runLoad({
          url: side.server.url,
          requests,
          headers: side.api.headers,
          settings,
          serverCpuMicros: side.server.cpuMicros,
          uniqueIds: true,
          ...(before ? { beforeMeasured: before } : {}),
        });
      for (const side of [baseline, variant]) {
        input.log(`${target.database}: settling run`);
        await load(side, settlingSettings(input.settings));
      }
      const rounds: AuditRound[] = [];
      const order = roundOrder(input.variantRounds);
      for (const [i, which] of order.entries()) {
        const side = which === 'baseline' ? baseline : variant;
        input.log(`${target.database}: round ${i + 1} of ${order.length}, ${which}`);
        let atStart = 0;
        const result = await load(side, input.settings, async () => {
          atStart = await auditHead(side.api);
        });
        const auditRows = (await auditHead(side.api)) - atStart;
        if (which === 'baseline' && auditRows !== 0) {
          throw new Error(`the baseline server wrote ${auditRows} audit rows: it is not the route without them`);
        }
        if (which === 'variant' && auditRows < result.requests) {
          throw new Error(`${result.requests} writes answered but ${auditRows} audit rows appended: some wrote none`);
        }
        rounds.push({ server: which, load: result, auditRows });
      }
      input.log(`${target.database}: verifying the variant's audit chain`);
      const verdict = await variant.api.call<{ ok: boolean; count: number; reason: string | null }>(
        'GET',
        '/v1/audit-events/verify',
      );
      if (!verdict.ok) throw new Error(`the audit chain written under load does not verify: ${verdict.reason}`);
      const measured = rounds.filter((r) => r.server === 'variant');
      points.push({
        database: target.database,
        rounds,
        ...compareRounds(rounds),
        auditRowsPerWrite: round(
          measured.reduce((sum, r) => sum + r.auditRows, 0) / measured.reduce((sum, r) => sum + r.load.requests, 0),
        ),
        verified: { ok: verdict.ok, count: verdict.count },
      });
    } finally {
      for (const server of servers) await server.stop();
    }
  }
  return {
    settings: input.settings,
    customers: input.customers,
    variantRounds: input.variantRounds,
    route: 'PUT /v1/customers/{id}',
    points,
  };
}

/** The `seq` of the newest audit row, through the API (0 for none). */
async function auditHead(api: KeymasterApi): Promise<number> {
  const page = await api.call<{ data: { seq: number }[] }>('GET', '/v1/audit-events?limit=1');
  return page.data[0]?.seq ?? 0;
}
