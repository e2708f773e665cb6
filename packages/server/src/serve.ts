import { readFileSync } from 'node:fs';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { parseCatalogFile } from './modules/catalog/catalog-file.js';
import { createCatalogService, describeChange } from './modules/catalog/service.js';
import { createKeymaster, type Keymaster } from './runtime.js';

const demoCatalogUrl = new URL('../demo/catalog.yaml', import.meta.url);

/** Demo customers, one per plan, so `check` answers something interesting right away. */
const demoCustomers = [
  { id: 'acme', name: 'Acme Inc.', traits: { country: 'US', employees: 250 }, plan: 'pro' },
  { id: 'globex', name: 'Globex', traits: { country: 'DE', employees: 12 }, plan: 'free' },
  { id: 'initech', name: 'Initech', traits: { country: 'FR', employees: 4000 }, plan: 'enterprise' },
];

/** Applies the demo catalog and customers into an empty database; leaves a used one alone. */
async function seedDemo(keymaster: Keymaster, clock: Clock): Promise<string[]> {
  const db = keymaster.database.db;
  const existing = await db.selectFrom('features').select('key').limit(1).execute();
  if (existing.length > 0) return [];
  const file = parseCatalogFile({ text: readFileSync(demoCatalogUrl, 'utf8'), name: 'demo/catalog.yaml' });
  const applied = await createCatalogService({ db, clock }).apply(file);
  for (const customer of demoCustomers) {
    await keymaster.services.customers.upsert({
      id: customer.id,
      body: { name: customer.name, traits: customer.traits },
    });
    await keymaster.services.subscriptions.create({
      customerId: customer.id,
      body: { plan: customer.plan, trial_days: 0 },
      actor: 'demo',
    });
  }
  return [...applied.changes.map(describeChange), ...demoCustomers.map((c) => `+ customer ${c.id} on ${c.plan}`)];
}

/** Starts the server and prints how to reach it; resolves once it listens. */
export async function serve(input: { config: Config; clock: Clock; demo: boolean }): Promise<Keymaster> {
  const { config, clock } = input;
  const keymaster = await createKeymaster({ config, clock });
  const seeded = input.demo ? await seedDemo(keymaster, clock) : [];
  await keymaster.app.listen({ port: config.port, host: config.host });
  const base = `http://localhost:${config.port}`;
  const where = config.database.dialect === 'sqlite' ? `SQLite at ${config.database.file}` : 'PostgreSQL';
  const lines = [
    '',
    `  Keymaster is running on ${base} (${where})`,
    `  API reference:  ${base}/docs`,
    `  OpenAPI:        ${base}/openapi.json`,
  ];
  if (seeded.length > 0) lines.push('', '  Demo catalog applied:', ...seeded.map((line) => `    ${line}`));
  if (keymaster.bootstrapSecret) {
    lines.push(
      '',
      '  An admin API key was created. It is shown only this once; store it now:',
      '',
      `    ${keymaster.bootstrapSecret}`,
    );
  } else if (config.adminKey) {
    lines.push('', '  Admin API key: the value of KEYMASTER_ADMIN_KEY.');
  } else {
    lines.push('', '  Use the API key printed on first start, or create one: npx keymaster keys create');
  }
  if (keymaster.setupLink) {
    const token = keymaster.setupLink.slice(keymaster.setupLink.indexOf('#') + 1);
    lines.push(
      '',
      '  No console user exists yet. Create the first owner (the link works once, for 24 hours):',
      '',
      `    ${keymaster.setupLink.startsWith('/') ? base : ''}${keymaster.setupLink}`,
      '',
      '  or with the API:',
      '',
      `    curl -s ${base}/v1/setup -H 'Content-Type: application/json' \\`,
      `      -d '{"token":"${token}","email":"you@example.com","password":"…"}'`,
      '',
      '  (or set KEYMASTER_ADMIN_EMAIL and KEYMASTER_ADMIN_PASSWORD; see docs/console.md)',
    );
  }
  const key = keymaster.bootstrapSecret ?? (config.adminKey ? '$KEYMASTER_ADMIN_KEY' : '<your key>');
  lines.push(
    '',
    '  Try it:',
    `    curl -s ${base}/v1/check -H 'Authorization: Bearer ${key}' \\`,
    `      -H 'Content-Type: application/json' -d '{"customer":"acme","feature":"seats","quantity":1}'`,
    '',
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return keymaster;
}
