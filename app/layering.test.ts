/**
 * The direction of dependencies, checked on every `npm test`: contracts at the bottom
 * (`schemas/`, then `topics/`), the runtime on contracts only, processors, the gateway and the
 * projections on contracts (and the runtime where they run on it), and `app/` alone assembling
 * them. No import cycle anywhere.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_FOLDERS = ['schemas', 'topics', 'processors', 'gateway', 'projections', 'connectors', 'app'];

type Layer =
  'schemas' | 'topics' | 'runtime' | 'processors' | 'gateway' | 'projections' | 'connectors' | 'app';

/** Which layers each layer may import; a layer always may import itself. */
const ALLOWED: Readonly<Record<Layer, readonly Layer[]>> = {
  schemas: [],
  topics: ['schemas'],
  runtime: ['schemas', 'topics'],
  processors: ['schemas', 'topics', 'runtime'],
  gateway: ['schemas', 'topics'],
  projections: ['schemas', 'topics', 'runtime'],
  connectors: ['schemas', 'topics', 'runtime'],
  app: ['schemas', 'topics', 'runtime', 'processors', 'gateway', 'projections', 'connectors'],
};

/** Single files a layer may import across the rule, with the reason. */
const EXCEPTIONS: Readonly<Record<string, string>> = {
  // The read models implement the gateway's query ports; the ports are plain interfaces.
  'projections -> gateway/ports.ts': 'projections implement the read-side ports the gateway declares',
};

function layerOf(file: string): Layer {
  const [top, second] = file.split('/');
  if (top === 'processors' && second === 'runtime') return 'runtime';
  return top as Layer;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (name === 'node_modules') continue;
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm;

/** The PayFlow files one file imports (relative specifiers, `.js` resolved to the `.ts` source). */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), match[1]!));
    out.push(target.replace(/\.js$/, '.ts'));
  }
  return out;
}

const isTest = (file: string) => file.endsWith('.test.ts');
const files = SOURCE_FOLDERS.flatMap(sourceFiles);
const graph = new Map(files.map((file) => [file, importsOf(file)]));

describe('layering', () => {
  test('no source file imports against the direction of dependencies', () => {
    const violations: string[] = [];
    for (const [file, imports] of graph) {
      if (isTest(file)) continue;
      const from = layerOf(file);
      for (const target of imports) {
        const to = layerOf(target);
        // A processor sees the runtime only through its contract.
        if (from === 'processors' && to === 'runtime' && target !== 'processors/runtime/api.ts') {
          violations.push(
            `${file} (processors) imports ${target}: a processor may use only processors/runtime/api.ts`,
          );
          continue;
        }
        if (to === from || ALLOWED[from].includes(to)) continue;
        if (EXCEPTIONS[`${from} -> ${target}`] !== undefined) continue;
        violations.push(`${file} (${from}) imports ${target} (${to})`);
      }
    }
    assert.deepEqual(violations, []);
  });

  test('no import cycle between PayFlow files', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      stack.push(file);
      for (const target of graph.get(file) ?? []) {
        if (state.get(target) === 'open')
          cycles.push([...stack.slice(stack.indexOf(target)), target].join(' -> '));
        else if (!state.has(target)) visit(target);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    assert.deepEqual(cycles, []);
  });

  test('every relative import names a file that exists', () => {
    const missing = [...graph].flatMap(([file, imports]) =>
      imports
        .filter((target) => !graph.has(target) && !target.startsWith('test/') && !target.startsWith('bench/'))
        // A JSON module (imported `with { type: 'json' }`) is data: it only has to exist.
        .filter((target) => !(target.endsWith('.json') && existsSync(path.join(ROOT, target))))
        .map((t) => `${file} -> ${t}`),
    );
    assert.deepEqual(missing, []);
  });
});
