/**
 * Turns every error into an RFC 9457 problem document: our own ApiErrors, Fastify's validation
 * and body-parsing errors, unknown routes (404) and known paths with the wrong method (405).
 * Registered with fastify-plugin so the handlers apply to the whole application.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError, PROBLEM_CONTENT_TYPE, toProblem, type FieldError } from '../errors.js';

/** Fastify's body-parsing errors, by code. */
const PARSER_ERRORS: Readonly<Record<string, (error: FastifyError) => ApiError>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => malformedJson('the body is not valid JSON'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => malformedJson('the body is empty but Content-Type is application/json'),
  FST_ERR_CTP_BODY_TOO_LARGE: (error) =>
    new ApiError('PAYLOAD_TOO_LARGE', error.message, { errors: [{ field: '', message: error.message }] }),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    new ApiError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json', {
      errors: [{ field: 'Content-Type', message: 'must be application/json' }],
    }),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    new ApiError('VALIDATION_FAILED', 'Content-Length does not match the body', {
      errors: [{ field: 'Content-Length', message: 'does not match the body length' }],
    }),
};

function malformedJson(detail: string): ApiError {
  return new ApiError('MALFORMED_JSON', detail, { errors: [{ field: '', message: detail }] });
}

/** Header names in errors are written the way clients send them (Idempotency-Key). */
function headerName(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
}

interface AjvIssue {
  readonly instancePath: string;
  readonly keyword: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
}

/** Maps one Ajv issue to the field it names: a JSON pointer in the body, a header name, a param. */
export function fieldOf(issue: AjvIssue, context: string): string {
  const missing = issue.params['missingProperty'] ?? issue.params['additionalProperty'];
  const child = typeof missing === 'string' ? `/${missing}` : '';
  const pointer = issue.instancePath + child;
  if (context === 'headers') return headerName(pointer.replace(/^\//, ''));
  if (context === 'params' || context === 'querystring') return pointer.replace(/^\//, '');
  return pointer;
}

function messageOf(issue: AjvIssue): string {
  if (issue.keyword === 'additionalProperties') return 'is not an allowed property';
  if (issue.keyword === 'required') return 'is required';
  return issue.message ?? 'is invalid';
}

function validationError(error: FastifyError): ApiError {
  const context = error.validationContext ?? 'body';
  const errors: FieldError[] = (error.validation ?? []).map((issue) => ({
    field: fieldOf(issue as AjvIssue, context),
    message: messageOf(issue as AjvIssue),
  }));
  const detail = errors.map((item) => `${item.field || context}: ${item.message}`).join('; ');
  return new ApiError('VALIDATION_FAILED', detail || error.message, { errors });
}

/** Classifies any thrown value; unknown errors become INTERNAL (and are logged in full). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) return validationError(fastifyError);
  const fromParser = fastifyError.code === undefined ? undefined : PARSER_ERRORS[fastifyError.code];
  if (fromParser !== undefined) return fromParser(fastifyError);
  // The JSON parser throws a SyntaxError (marked 400) for bad JSON and prototype poisoning.
  if (error instanceof SyntaxError) return malformedJson(`the body is not valid JSON: ${error.message}`);
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500) return new ApiError('VALIDATION_FAILED', fastifyError.message);
  return new ApiError('INTERNAL', 'an unexpected error occurred; it has been logged', { cause: error });
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: ApiError): FastifyReply {
  return reply
    .code(error.status)
    .headers(error.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(toProblem(error, request.url.split('?')[0]));
}

interface KnownRoute {
  readonly method: string;
  readonly pattern: RegExp;
}

function routePattern(url: string): RegExp {
  const escaped = url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+');
  return new RegExp(`^${escaped}/?$`);
}

/** Methods registered for a path, to tell 405 from 404 and fill the Allow header. */
function allowedMethods(routes: readonly KnownRoute[], path: string): string[] {
  const methods = routes.filter((route) => route.pattern.test(path)).map((route) => route.method);
  return [...new Set(methods)].sort();
}

/** Longest request target (path and query) served; longer ones are 414. */
export const URL_LENGTH_MAX = 2_048;

function notFound(routes: readonly KnownRoute[], request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0] ?? '';
  const allowed = allowedMethods(routes, path);
  if (allowed.length === 0) {
    return sendProblem(request, reply, new ApiError('ROUTE_NOT_FOUND', `no route ${request.method} ${path}`));
  }
  const detail = `${request.method} is not allowed on ${path}; use ${allowed.join(', ')}`;
  return sendProblem(
    request,
    reply,
    new ApiError('METHOD_NOT_ALLOWED', detail, { headers: { Allow: allowed.join(', ') } }),
  );
}

/**
 * Fastify's `frameworkErrors`: a path that is not valid percent-encoding (400) or a path
 * parameter over the router's length limit (414), raised before any hook runs.
 */
export function frameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const problem =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new ApiError('URI_TOO_LONG', 'a path segment is longer than any identifier this API uses')
      : error.code === 'FST_ERR_BAD_URL'
        ? new ApiError('MALFORMED_REQUEST', 'the path is not valid percent-encoding')
        : toApiError(error);
  // No hook has run, so the correlation header is set here.
  void sendProblem(request, reply.header('X-Correlation-Id', request.id), problem);
}

function problemsPlugin(app: FastifyInstance): Promise<void> {
  const routes: KnownRoute[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) routes.push({ method: String(method), pattern: routePattern(route.url) });
  });

  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error);
    if (apiError.code === 'INTERNAL') request.log.error({ err: error }, 'request failed');
    return sendProblem(request, reply, apiError);
  });

  // Runs first, before authentication and before a body is read: an unknown route or method is
  // 404/405 whatever the body (QUERY without Content-Type included), and an overlong target 414.
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.length > URL_LENGTH_MAX) {
      throw new ApiError('URI_TOO_LONG', `the request target is longer than ${URL_LENGTH_MAX} characters`);
    }
    if (request.is404) return notFound(routes, request, reply);
    return undefined;
  });
  app.setNotFoundHandler((request, reply) => notFound(routes, request, reply));
  return Promise.resolve();
}

export const problems = fp(problemsPlugin, { name: 'payflow-problems' });
