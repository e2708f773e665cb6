import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Every package of the workspace declares what it imports. An undeclared import works inside the
 * repository (npm hoists every package to the root) and breaks for whoever installs the package
 * on its own; this test is what notices.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  workspaces?: string[];
}

const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
const rootManifest = read(root);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The packages a file imports by name (not relative paths, not Node's own modules). */
function imported(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const names = new Set<string>();
  for (const match of text.matchAll(
    /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g,
  )) {
    const specifier = match[1] ?? match[2]!;
    if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
    const parts = specifier.split('/');
    names.add(specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
  }
  return [...names];
}

describe('workspace packages', () => {
  for (const workspace of rootManifest.workspaces ?? []) {
    const dir = join(root, workspace);
    const manifest = read(dir);
    it(`${manifest.name} declares every package it imports`, () => {
      const runtime = new Set([
        manifest.name,
        ...Object.keys(manifest.dependencies ?? {}),
        ...Object.keys(manifest.peerDependencies ?? {}),
      ]);
      // Tests, test support and the conformance runner may also use development tools, the
      // package's or the workspace's.
      const development = new Set([
        ...runtime,
        ...Object.keys(manifest.devDependencies ?? {}),
        ...Object.keys(rootManifest.devDependencies ?? {}),
      ]);
      const undeclared: string[] = [];
      for (const file of sources(join(dir, 'src'))) {
        const forTests = /\.test\.tsx?$|\/test-support\/|\/conformance\//.test(file);
        for (const name of imported(file)) {
          if (!(forTests ? development : runtime).has(name)) undeclared.push(`${file.slice(root.length)}: ${name}`);
        }
      }
      expect(undeclared).toEqual([]);
    });
  }
});
