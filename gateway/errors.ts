/**
 * The closed list of error codes the ingress API answers with. Every error response is an
 * RFC 9457 problem document carrying one of these codes; clients branch on `code`, never on
 * `title` or `detail`. Adding a code is an API change: update the README table with it.
 */

export interface ErrorCodeSpec {
  readonly status: number;
  readonly title: string;
  /** True when the same request may succeed later unchanged (clients may retry with backoff). */
  readonly retryable: boolean;
}

export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, title: 'The request is invalid', retryable: false },
  MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON', retryable: false },
  MALFORMED_REQUEST: { status: 400, title: 'The request is not valid HTTP', retryable: false },
  UNAUTHENTICATED: { status: 401, title: 'Authentication is required', retryable: false },
  FORBIDDEN: { status: 403, title: 'The principal lacks the required role', retryable: false },
  ACCOUNT_FORBIDDEN: { status: 403, title: 'The principal may not act on this account', retryable: false },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route', retryable: false },
  PAYMENT_NOT_FOUND: { status: 404, title: 'No such payment', retryable: false },
  ACCOUNT_NOT_FOUND: { status: 404, title: 'No such account', retryable: false },
  COMMAND_NOT_FOUND: { status: 404, title: 'No such account command', retryable: false },
  REVIEW_NOT_FOUND: { status: 404, title: 'No such payment held for review', retryable: false },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this route', retryable: false },
  REQUEST_TIMEOUT: {
    status: 408,
    title: 'The request was not received in time',
    retryable: true,
  },
  IDEMPOTENCY_KEY_IN_FLIGHT: {
    status: 409,
    title: 'A request with this idempotency key is still being processed',
    retryable: true,
  },
  ACCOUNT_EXISTS: {
    status: 409,
    title: 'An account with this id exists with another owner or currency',
    retryable: false,
  },
  ACCOUNT_NOT_EMPTY: { status: 409, title: 'The account still holds money', retryable: false },
  REVIEW_DECIDED: { status: 409, title: 'The held payment was already decided', retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large', retryable: false },
  URI_TOO_LONG: { status: 414, title: 'The request target is too long', retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type', retryable: false },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    title: 'The idempotency key was already used with a different request',
    retryable: false,
  },
  HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large', retryable: false },
  RATE_LIMITED: { status: 429, title: 'Too many requests from this principal', retryable: true },
  OVERLOADED: { status: 503, title: 'The service is overloaded', retryable: true },
  PUBLISH_UNAVAILABLE: { status: 503, title: 'The command log is unavailable', retryable: true },
  PIPELINE_UNAVAILABLE: {
    status: 503,
    title: 'The payment pipeline is not taking new commands',
    retryable: true,
  },
  IDEMPOTENCY_UNAVAILABLE: {
    status: 503,
    title: 'The idempotency store is unavailable',
    retryable: true,
  },
  QUERY_UNAVAILABLE: { status: 503, title: 'The read model is unavailable', retryable: true },
  AUTH_UNAVAILABLE: { status: 503, title: 'The signing keys are unavailable', retryable: true },
  NOT_READY: { status: 503, title: 'A dependency is not ready', retryable: true },
  INTERNAL: { status: 500, title: 'Internal error', retryable: true },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One offending input: a JSON pointer into the body (`/amount`) or a header name. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** The problem+json body (RFC 9457) plus PayFlow's `code` and `errors` extension members. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly code: ErrorCode;
  readonly errors?: readonly FieldError[];
}

export const PROBLEM_TYPE_BASE = 'https://payflow.dev/problems/';

/** An operating error meant for the client; the error handler turns it into a problem body. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly errors: readonly FieldError[] | undefined;
  /** Extra response headers (WWW-Authenticate, Retry-After, Allow). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    detail: string,
    options: {
      errors?: readonly FieldError[];
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(detail, { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

/** Shorthand for a 400 naming one field. */
export function invalidField(field: string, message: string): ApiError {
  return new ApiError('VALIDATION_FAILED', `${field || 'body'}: ${message}`, {
    errors: [{ field, message }],
  });
}

export function toProblem(error: ApiError, instance: string | undefined): Problem {
  const spec = ERROR_CODES[error.code];
  return {
    type: PROBLEM_TYPE_BASE + error.code.toLowerCase().replaceAll('_', '-'),
    title: spec.title,
    status: spec.status,
    detail: error.message,
    ...(instance === undefined ? {} : { instance }),
    code: error.code,
    ...(error.errors === undefined ? {} : { errors: error.errors }),
  };
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
