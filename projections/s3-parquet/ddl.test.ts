/**
 * The archive's two table definitions, athena.sql (the Athena contract) and trino.sql (its
 * Trino twin), declare the same columns with the same types in the same order, the same
 * partition columns, folders and projection ranges, and match the columns the writer puts in
 * every file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm/node';

import { encodeEvents } from './archive.js';

const read = (name: string) => readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');

/** `sql` without `--` comments (none of these files has `--` inside a string). */
const withoutComments = (sql: string) => sql.replaceAll(/--.*$/gm, '');

/** The text inside the parentheses that open at `open` (nested parentheses and quotes kept). */
function parenthesized(sql: string, open: number): string {
  let depth = 0;
  let quoted = false;
  for (let i = open; i < sql.length; i += 1) {
    const c = sql[i];
    if (c === "'") quoted = !quoted;
    if (quoted) continue;
    if (c === '(') depth += 1;
    if (c === ')' && --depth === 0) return sql.slice(open + 1, i);
  }
  throw new Error(`unbalanced parentheses from offset ${open}`);
}

/** The items of a list, split at commas outside parentheses, brackets and quotes. */
function topLevelItems(list: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (const c of list) {
    if (c === "'") quoted = !quoted;
    if (!quoted && (c === '(' || c === '[')) depth += 1;
    if (!quoted && (c === ')' || c === ']')) depth -= 1;
    if (!quoted && depth === 0 && c === ',') {
      items.push(current.trim());
      current = '';
    } else current += c;
  }
  if (current.trim() !== '') items.push(current.trim());
  return items;
}

interface Column {
  readonly name: string;
  readonly type: string;
}

/** `name type [WITH (...)]` → the name and the type, lower case. */
function column(item: string): Column {
  const match = /^(\w+)\s+([a-z]+(?:\(\d+\))?)/i.exec(item);
  assert.ok(match, `not a column definition: ${item}`);
  return { name: match[1]!.toLowerCase(), type: match[2]!.toLowerCase() };
}

/** The property `key = value` of a list of such items (quotes around the key optional). */
function properties(list: string): Map<string, string> {
  return new Map(
    topLevelItems(list).map((item) => {
      const [key, ...value] = item.split('=');
      return [key!.trim().replaceAll("'", ''), value.join('=').trim()];
    }),
  );
}

function athenaTable() {
  const sql = withoutComments(read('athena.sql'));
  const create = sql.search(/CREATE EXTERNAL TABLE/i);
  const columnsOpen = sql.indexOf('(', create);
  const partitionedOpen = sql.indexOf('(', sql.search(/PARTITIONED BY/i));
  const tblOpen = sql.indexOf('(', sql.search(/TBLPROPERTIES/i));
  const props = properties(parenthesized(sql, tblOpen));
  const unquote = (key: string) => props.get(key)?.replaceAll("'", '');
  return {
    columns: topLevelItems(parenthesized(sql, columnsOpen)).map(column),
    partitions: topLevelItems(parenthesized(sql, partitionedOpen)).map(column),
    template: unquote('storage.location.template'),
    dtRange: unquote('projection.dt.range')?.split(','),
    hourRange: unquote('projection.hour.range')?.split(','),
    hourDigits: unquote('projection.hour.digits'),
  };
}

function trinoTable() {
  const sql = withoutComments(read('trino.sql'));
  const create = sql.search(/CREATE TABLE/i);
  const columnsOpen = sql.indexOf('(', create);
  const columnList = parenthesized(sql, columnsOpen);
  const items = topLevelItems(columnList);
  const withOpen = sql.indexOf('(', sql.indexOf('WITH', columnsOpen + columnList.length + 1));
  const props = properties(parenthesized(sql, withOpen));
  const partitioned = [...(props.get('partitioned_by') ?? '').matchAll(/'(\w+)'/g)].map((m) => m[1]!);
  const columnProperties = (name: string) => {
    const item = items.find((i) => column(i).name === name) ?? '';
    const open = item.search(/WITH\s*\(/i);
    return open < 0 ? new Map<string, string>() : properties(parenthesized(item, item.indexOf('(', open)));
  };
  const arrayValues = (text: string | undefined) =>
    [...(text ?? '').matchAll(/'([^']*)'/g)].map((m) => m[1]!);
  return {
    columns: items.map(column),
    partitioned,
    template: props.get('partition_projection_location_template')?.replaceAll("'", ''),
    dtRange: arrayValues(columnProperties('dt').get('partition_projection_range')),
    hourRange: arrayValues(columnProperties('hour').get('partition_projection_range')),
    hourDigits: columnProperties('hour').get('partition_projection_digits'),
  };
}

/** Athena's Hive type names and the Trino types the Hive connector reads them as. */
const TRINO_TYPE_OF_ATHENA: Readonly<Record<string, string>> = {
  string: 'varchar',
  int: 'integer',
  bigint: 'bigint',
  timestamp: 'timestamp(3)',
};

describe('archive table definitions', () => {
  test('trino.sql declares the columns of athena.sql, in order, with the Trino names of the same types', () => {
    const athena = athenaTable();
    const trino = trinoTable();
    const athenaColumns = [...athena.columns, ...athena.partitions].map(({ name, type }) => {
      const trinoType = TRINO_TYPE_OF_ATHENA[type];
      assert.ok(trinoType, `athena.sql column ${name} has a type this test does not map: ${type}`);
      return { name, type: trinoType };
    });
    assert.ok(athenaColumns.length > 10, 'athena.sql was parsed');
    assert.deepEqual(trino.columns, athenaColumns);
  });

  test('both partition by dt and hour, in the same folders, over the same projected ranges', () => {
    const athena = athenaTable();
    const trino = trinoTable();
    assert.deepEqual(
      athena.partitions.map((p) => p.name),
      ['dt', 'hour'],
    );
    assert.deepEqual(trino.partitioned, ['dt', 'hour']);
    assert.equal(trino.template, athena.template);
    assert.match(athena.template ?? '', /\/dt=\$\{dt\}\/hour=\$\{hour\}\/$/);
    assert.deepEqual(trino.dtRange, athena.dtRange);
    assert.deepEqual(trino.hourRange, athena.hourRange);
    assert.equal(trino.hourDigits, athena.hourDigits);
  });

  test('the writer puts exactly the non-partition columns of the DDL in every file, in order', () => {
    const file = encodeEvents([
      {
        eventId: 'e-0',
        paymentId: 'p-1',
        type: 'PaymentValidated',
        sequence: 1,
        occurredAtMs: 0,
        correlationId: null,
      },
    ]);
    const written = tableFromIPC(readParquet(file).intoIPCStream()).schema.fields.map((f) => f.name);
    assert.deepEqual(
      written,
      athenaTable().columns.map((c) => c.name),
    );
  });
});
