import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { describe, expect } from 'vitest';
import { type Chromium, describeInChromium, launchChromium } from '../../sdk/src/test-support/chromium.js';
import { type TestDialect, testDialects } from '../../server/src/test-support/databases.js';
import { startTestServer, type TestServer } from '../../server/src/test-support/server.js';

export { expectStatus } from '../../server/src/test-support/builders.js';
export type { TestServer };

/** The owner every console test signs in as (created at start by KEYMASTER_ADMIN_EMAIL/PASSWORD). */
export const owner = { email: 'owner@example.com', password: 'correct horse battery staple' };

/**
 * Runs a browser suite where Chromium is installed (always in CI), once: on PostgreSQL, the
 * production store, when TEST_DATABASE_URL is set, else on SQLite. The pages call the same API
 * routes whose HTTP suites run on both dialects, so a second browser run would test the storage
 * again at a browser's pace and nothing about the pages.
 */
export function describeConsole(name: string, suite: (dialect: TestDialect) => void): void {
  const dialect = testDialects.at(-1)!;
  describeInChromium(name, () => describe(`${name} [${dialect}]`, () => suite(dialect)));
}

export interface ConsoleTest {
  /** The server's base URL (`http://127.0.0.1:<port>`): the console is at `/`, the portal at `/portal`. */
  url: string;
  /** The server itself, for arranging and checking through the API as its admin key. */
  server: TestServer;
  browser: Chromium;
  /** A fresh tab. */
  page: Page;
  /** Opens the console and signs in (as the owner unless told otherwise); answers when the console shows. */
  signIn(input?: { email: string; password: string; page?: Page }): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real Keymaster listening on a port, with an owner, and a Chromium tab: what every console or
 * portal test starts from. The server's clock is manual (the test moves it); the browser's is real.
 */
export async function startConsoleTest(input: {
  dialect: TestDialect;
  env?: Record<string, string>;
}): Promise<ConsoleTest> {
  const server = await startTestServer({
    dialect: input.dialect,
    // Sessions and portal links expire by the server's clock: a real one, like the browser's.
    start: new Date().toISOString(),
    env: { KEYMASTER_ADMIN_EMAIL: owner.email, KEYMASTER_ADMIN_PASSWORD: owner.password, ...input.env },
  });
  const url = await server.listen();
  const browser = await launchChromium();
  const page = await browser.context.newPage();
  return {
    url,
    server,
    browser,
    page,
    async signIn(credentials) {
      const tab = credentials?.page ?? page;
      await tab.goto(`${url}/`);
      await tab.getByLabel('Email').fill(credentials?.email ?? owner.email);
      await tab.getByLabel('Password').fill(credentials?.password ?? owner.password);
      await tab.getByRole('button', { name: 'Sign in' }).click();
      await tab.getByRole('navigation', { name: 'Console' }).waitFor();
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/** Runs axe-core on the page as it is now: no serious or critical violation may be found. */
export async function expectAccessible(page: Page): Promise<void> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document): Promise<{ violations: AxeViolation[] }> } }).axe;
    return (await axe.run(document)).violations;
  });
  const serious = violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((node) => JSON.stringify(node.target)).join(', ')})`);
  expect(serious).toEqual([]);
}

const screenshots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));

/**
 * With KEYMASTER_SCREENSHOTS=1, saves the page as `docs/screenshots/<name>.png` (the pictures
 * the docs show). Otherwise does nothing, so test runs leave the checkout as it was.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.KEYMASTER_SCREENSHOTS !== '1') return;
  mkdirSync(screenshots, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: `${screenshots}${name}.png`, fullPage: false });
}
