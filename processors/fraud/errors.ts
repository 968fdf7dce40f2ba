/** A rules, model or thresholds document that does not fit its schema: one line per problem. */
import type { z } from 'zod';

export class FraudConfigError extends Error {
  constructor(
    /** What was parsed: a file path, or a name for a document given in code. */
    readonly source: string,
    /** Each problem, starting with the field path: `rules[2].when.all[0].feature: …`. */
    readonly problems: readonly string[],
  ) {
    super(`${source}: ${problems.join('; ')}`);
    this.name = 'FraudConfigError';
  }
}

/** `rules[2].when.all[0]` from zod's path `['rules', 2, 'when', 'all', 0]`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(the document)' : out;
}

/** Parses `value` with `schema`, or throws FraudConfigError naming each bad field. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, source: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new FraudConfigError(
    source,
    result.error.issues.map((issue) => `${fieldPath(issue.path)}: ${issue.message}`),
  );
}

/** JSON.parse, or FraudConfigError naming the source. */
export function parseJsonText(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new FraudConfigError(source, [
      `(the document): not JSON (${error instanceof Error ? error.message : String(error)})`,
    ]);
  }
}
