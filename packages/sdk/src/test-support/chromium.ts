import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { describe, expect } from 'vitest';
import { expectStatus } from '../../../server/src/test-support/builders.js';
import { startLiveServer } from './live-server.js';

/**
 * Browser tests run in Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it),
 * driven by playwright-core. Nothing here downloads a browser: playwright's own builds are never
 * installed, and the executable is this one.
 */
export const chromiumPath = '/usr/bin/chromium';

const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const missing = !existsSync(chromiumPath);
// CI must run them: a missing browser there fails the suite rather than skipping it silently.
const skip = missing && !process.env.CI;

/** `describe` for suites that need Chromium: skipped, with a message, only where it is not installed. */
export function describeInChromium(name: string, suite: () => void): void {
  if (skip) {
    console.warn(`${chromiumPath} is missing: "${name}" is skipped (apt-get install -y chromium to run it).`);
    describe.skip(name, suite);
    return;
  }
  describe(name, suite);
}

/**
 * Waits until `read()` equals `expected` (`expect.poll(...).toEqual`), with room for a page to
 * catch up on a machine busy with the rest of the suite: vitest's default gives up after a second.
 */
export async function untilPage<T>(read: () => T | Promise<T>, expected: T, timeoutMs = 10_000): Promise<void> {
  await expect.poll(read, { timeout: timeoutMs, interval: 20 }).toEqual(expected);
}

export interface Chromium {
  context: BrowserContext;
  /** Messages of uncaught errors and console.error calls in any page, for asserting there were none. */
  errors: string[];
  close(): Promise<void>;
}

/** One headless Chromium with a fresh profile in a temporary directory, removed on close. */
export async function launchChromium(): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), 'keymaster-chromium-'));
  const errors: string[] = [];
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
      locale: 'en-US',
      timezoneId: 'UTC',
    });
    const watch = (page: Page) => {
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
    };
    context.pages().forEach(watch);
    context.on('page', watch);
    return {
      context,
      errors,
      async close() {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}

const packageSource = (name: string) => fileURLToPath(new URL(`../../../${name}/src/index.ts`, import.meta.url));

/** Bundles Keymaster's packages from their sources, as vitest resolves them, so no build is needed. */
const keymasterSources: Plugin = {
  name: 'keymaster-sources',
  setup(builder) {
    builder.onResolve({ filter: /^@keymaster\/(core|contract|sdk|react)$/ }, (args) => ({
      path: packageSource(args.path.slice('@keymaster/'.length)),
    }));
  },
};

/** A test page's script: `entry` and everything it imports, bundled for the browser. */
export async function bundlePage(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"development"' },
    plugins: [keymasterSources],
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/**
 * Serves a page that runs `script` at `/` on its own port: another origin than the Keymaster
 * server, so every call the page makes is a real cross-origin request under CORS.
 */
export async function servePage(script: string): Promise<{ url: string; origin: string; close(): Promise<void> }> {
  const html =
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Keymaster test page</title>' +
    // No favicon request: its 404 would read as an error of the page's.
    '<link rel="icon" href="data:,"></head>' +
    '<body><div id="root"></div><script type="module" src="/page.js"></script></body></html>';
  const server = createServer((request, response) => {
    if (request.url === '/page.js') {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      response.end(script);
    } else if (request.url === '/' || request.url?.startsWith('/?')) {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(html);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}/`,
    origin,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A browser test's pieces; see `startBrowserTest`. */
export interface BrowserTest {
  site: Awaited<ReturnType<typeof servePage>>;
  live: Awaited<ReturnType<typeof startLiveServer>>;
  browser: Chromium;
  /** A fresh tab, not yet on the page: attach listeners, then `open()`. */
  page: Page;
  open(): Promise<void>;
  /** A POST to the server as its admin, expecting `status`; answers the body. */
  post<T = Record<string, unknown>>(url: string, body: unknown, status?: number): Promise<T>;
  close(): Promise<void>;
}

/**
 * What every browser test of a page needs: the page (`pageEntry`, bundled) served on one origin,
 * a real Keymaster (SQLite) on another that allows it by CORS, and a Chromium tab. With
 * `realTime`, the server's clock starts at the real time: the browser's snapshots expire by its
 * own clock.
 */
export async function startBrowserTest(input: { pageEntry: string; realTime?: boolean }): Promise<BrowserTest> {
  const site = await servePage(await bundlePage(input.pageEntry));
  const live = await startLiveServer({
    dialect: 'sqlite',
    env: { KEYMASTER_CORS_ORIGINS: site.origin },
    ...(input.realTime ? { start: new Date().toISOString() } : {}),
  });
  const browser = await launchChromium();
  const page = await browser.context.newPage();
  return {
    site,
    live,
    browser,
    page,
    open: async () => {
      await page.goto(site.url);
    },
    post: async <T>(url: string, body: unknown, status = 200) =>
      expectStatus<T>(await live.server.request({ method: 'POST', url, body }), status),
    async close() {
      await browser.close();
      await live.close();
      await site.close();
    },
  };
}
