import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

/** The Vite build the server serves (the test run brings it up to date: vitest.global-setup.ts). */
const dist = fileURLToPath(new URL('../dist/', import.meta.url));

interface ManifestChunk {
  file: string;
  src?: string;
  isEntry?: boolean;
  imports?: string[];
  dynamicImports?: string[];
}

type Manifest = Record<string, ManifestChunk>;

/** Every JavaScript file a page's first load fetches: its entry and its static imports, recursively. */
function firstLoad(manifest: Manifest, entry: string): string[] {
  const files = new Set<string>();
  const visit = (key: string) => {
    const chunk = manifest[key];
    if (!chunk) throw new Error(`the manifest has no chunk "${key}"`);
    if (files.has(chunk.file)) return;
    files.add(chunk.file);
    for (const imported of chunk.imports ?? []) visit(imported);
  };
  visit(entry);
  return [...files].filter((file) => file.endsWith('.js'));
}

describe('the customer portal bundle', () => {
  const manifest = JSON.parse(readFileSync(`${dist}.vite/manifest.json`, 'utf8')) as Manifest;

  it('loads less than 200 kB of JavaScript (gzipped) at first, and none of the console', () => {
    const files = firstLoad(manifest, 'portal.html');
    const sizes = files.map((file) => ({ file, gzipped: gzipSync(readFileSync(`${dist}${file}`)).length }));
    const total = sizes.reduce((sum, { gzipped }) => sum + gzipped, 0);
    expect(total, JSON.stringify(sizes)).toBeLessThan(200 * 1024);
    // The console's entry (and the charts it loads later) are not among them.
    const console = manifest['index.html']!.file;
    expect(files).not.toContain(console);
    const charts = Object.values(manifest)
      .filter((chunk) => chunk.file.includes('Chart'))
      .map((chunk) => chunk.file);
    expect(files.filter((file) => charts.includes(file))).toEqual([]);
  });
});
