/**
 * `npm run config:docs`: writes the configuration table generated from app/config.ts into the
 * README, between its markers. `app/config.test.ts` fails when the README's table differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { format, resolveConfig } from 'prettier';

import { CONFIG_DOCS_BEGIN, CONFIG_DOCS_END, configTable } from './config.js';

const README = new URL('../README.md', import.meta.url);

/** The README with its configuration table replaced by `table`. */
export function withConfigTable(readme: string, table: string): string {
  const begin = readme.indexOf(CONFIG_DOCS_BEGIN);
  const end = readme.indexOf(CONFIG_DOCS_END);
  if (begin < 0 || end < begin)
    throw new Error(`README.md has no "${CONFIG_DOCS_BEGIN}" ... "${CONFIG_DOCS_END}" block`);
  return `${readme.slice(0, begin + CONFIG_DOCS_BEGIN.length)}\n\n${table}\n\n${readme.slice(end)}`;
}

/** The rows of the README's configuration table: [variable, meaning, default], cells trimmed. */
export function readmeConfigRows(readme: string): string[][] {
  const begin = readme.indexOf(CONFIG_DOCS_BEGIN);
  const end = readme.indexOf(CONFIG_DOCS_END);
  return readme
    .slice(begin, end)
    .split('\n')
    .filter((line) => line.startsWith('| `PAYFLOW_'))
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}

if (process.argv[1]?.endsWith('config-docs.ts')) {
  const path = README.pathname;
  const written = withConfigTable(readFileSync(README, 'utf8'), configTable());
  const options = (await resolveConfig(path)) ?? {};
  writeFileSync(README, await format(written, { ...options, filepath: path }));
  console.log('README.md: configuration table written');
}
