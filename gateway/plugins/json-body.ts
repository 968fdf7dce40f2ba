/**
 * The JSON body parser of every route: the strict parser (strict-json.ts) in place of Fastify's,
 * so duplicate keys, invalid UTF-8, NUL and lone surrogates are 400 naming the field, before
 * schema validation sees a body whose meaning depends on the parser.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.js';
import { JsonInputError, parseStrictJson } from '../strict-json.js';

/** The parser's refusal as the problem the client gets. */
export function jsonInputProblem(error: JsonInputError): ApiError {
  const where = error.pointer === '' ? 'body' : error.pointer;
  const code = error.kind === 'malformed' ? 'MALFORMED_JSON' : 'VALIDATION_FAILED';
  return new ApiError(code, `${where}: ${error.message}`, {
    errors: [{ field: error.pointer, message: error.message }],
  });
}

function jsonBodyPlugin(app: FastifyInstance): Promise<void> {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const bytes = body as Buffer;
    if (bytes.length === 0) {
      const detail = 'the body is empty but Content-Type is application/json';
      done(new ApiError('MALFORMED_JSON', detail, { errors: [{ field: '', message: detail }] }), undefined);
      return;
    }
    try {
      done(null, parseStrictJson(bytes));
    } catch (error) {
      if (error instanceof JsonInputError) done(jsonInputProblem(error), undefined);
      else done(error as Error, undefined);
    }
  });
  return Promise.resolve();
}

export const jsonBody = fp(jsonBodyPlugin, { name: 'payflow-json-body' });
