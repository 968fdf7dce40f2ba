/**
 * Answers for requests that never reach Fastify's routing: what Node's HTTP parser refuses
 * (malformed request lines and headers, unknown methods, headers over the size limit) and
 * requests not received within the header or request timeout. Each gets the same RFC 9457
 * problem document as every other error, written straight to the socket, which is then closed:
 * after a framing error nothing more on the connection can be trusted.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError, PROBLEM_CONTENT_TYPE, toProblem } from './errors.js';

/** What the gateway's routes use; the Allow answer to a method the parser does not know. */
const SERVED_METHODS = 'GET, HEAD, PATCH, POST';

/** How long a refused connection may stay open for the answer to be read. */
const SOCKET_LINGER_MS = 1_000;

interface ClientError extends Error {
  readonly code?: string;
  /** The bytes the parser refused (Node sets it on parser errors). */
  readonly rawPacket?: unknown;
}

/** `TOKEN target HTTP/1.x`: a well-formed request line whose method is unknown (405, not 400). */
const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [\x21-\x7e]+ HTTP\/1\.[01]\r?\n/;

function isRequestLine(error: ClientError): boolean {
  const packet = error.rawPacket;
  return Buffer.isBuffer(packet) && REQUEST_LINE.test(packet.subarray(0, 8_192).toString('latin1'));
}

/** The problem for one parser or timeout error (`code` from llhttp or Node). */
export function clientErrorProblem(error: ClientError): ApiError {
  const code: string = error.code ?? '';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT')
    return new ApiError('REQUEST_TIMEOUT', 'the request was not received within the timeout; send it again');
  if (code === 'HPE_HEADER_OVERFLOW')
    return new ApiError('HEADERS_TOO_LARGE', 'the request line and headers exceed the size limit');
  if (code === 'HPE_INVALID_METHOD' && isRequestLine(error))
    return new ApiError(
      'METHOD_NOT_ALLOWED',
      `the method is not one this API serves; use ${SERVED_METHODS}`,
      {
        headers: { Allow: SERVED_METHODS },
      },
    );
  const reason = (error as { reason?: unknown }).reason;
  const detail = typeof reason === 'string' && reason !== '' ? reason : 'the request could not be parsed';
  return new ApiError('MALFORMED_REQUEST', `${detail} (${code || 'parse error'})`);
}

/** The raw HTTP/1.1 response carrying `problem`, closing the connection. */
export function rawProblemResponse(problem: ApiError, correlationId: string): string {
  const body = JSON.stringify(toProblem(problem, undefined));
  const headers = [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Error'}`,
    `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Correlation-Id: ${correlationId}`,
    ...Object.entries(problem.headers).map(([name, value]) => `${name}: ${value}`),
    'Connection: close',
  ];
  return `${headers.join('\r\n')}\r\n\r\n${body}`;
}

export interface ClientErrorLog {
  debug(fields: object, message: string): void;
}

/** The http server's `clientError` handler (Fastify's `clientErrorHandler` option). */
export function handleClientError(log: ClientErrorLog, error: ClientError, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const problem = clientErrorProblem(error);
  const correlationId = randomUUID();
  log.debug({ code: error.code, statusCode: problem.status, correlationId }, 'client error');
  // A response already under way (the request timed out while being answered) can't be replaced.
  const started = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (socket.writable && !started) {
    socket.end(rawProblemResponse(problem, correlationId));
    // end() flushes the answer; a client that never closes its side is cut off shortly after.
    setTimeout(() => socket.destroy(), SOCKET_LINGER_MS).unref();
  } else socket.destroy();
}
