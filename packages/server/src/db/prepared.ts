import type pg from 'pg';

/**
 * The statements every PostgreSQL connection keeps prepared, by SQL text. `pg` sends a query
 * with parameters as an unnamed statement, which PostgreSQL parses and plans on every run; for
 * the few statements that run on every check, consume and change-feed read, that planning cost
 * about as much as running them. A statement registered here runs as a named one: each
 * connection parses it once, and PostgreSQL plans it once it has seen that a generic plan does.
 *
 * Only fixed texts belong here (see `precompiled`): each name stays prepared on every connection
 * for the connection's life.
 */
const names = new Map<string, string>();

/** Keeps `text` prepared on every PostgreSQL connection from now on. */
export function keepPrepared(text: string): void {
  if (!names.has(text)) names.set(text, `km_${names.size}`);
}

/** PostgreSQL's answer when a schema change altered what a prepared statement returns. */
const resultTypeChanged = '0A000';

/**
 * Makes `client` run the registered statements as named ones. A migration another node runs
 * while this one serves can change what a prepared `select` returns; PostgreSQL then refuses it
 * ("cached plan must not change result type") and the statement is prepared again under a new
 * name, once, and the query retried.
 */
export function preparing(client: pg.PoolClient): void {
  const original = client.query.bind(client) as unknown as (...args: unknown[]) => Promise<pg.QueryResult>;
  const renamed = new Map<string, string>();
  const named = (name: string, text: string, values: unknown[] | undefined) => original({ name, text, values });
  // Only the (text, values) form Kysely uses is named; every other form goes through as it was.
  const query = (...args: unknown[]) => {
    const [text, values] = args;
    const name =
      typeof text === 'string' && args.length <= 2 && (values === undefined || Array.isArray(values))
        ? (renamed.get(text) ?? names.get(text))
        : undefined;
    if (name === undefined) return original(...args);
    return named(name, text as string, values as unknown[] | undefined).catch((error: unknown) => {
      if ((error as { code?: unknown }).code !== resultTypeChanged) throw error;
      const fresh = `${name}_${renamed.size + 1}`;
      renamed.set(text as string, fresh);
      return named(fresh, text as string, values as unknown[] | undefined);
    });
  };
  client.query = query as typeof client.query;
}
