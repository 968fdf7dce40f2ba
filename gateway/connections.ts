/**
 * A cap on the connections one client address may hold open at once. Slow or idle clients
 * cost a socket each until the header or request timeout cuts them off; without a cap one
 * address could hold every socket (and file descriptor) the process has. A connection over the
 * cap is answered 503 problem+json at once and closed, before its request is read. Behind a
 * proxy or load balancer every client shares its address: raise the cap there.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { rawProblemResponse } from './client-errors.js';
import { ApiError } from './errors.js';

/** How long a refused connection may stay open for its 503 to be read. */
const REFUSED_LINGER_MS = 1_000;

export interface ConnectionCapOptions {
  readonly maxPerAddress: number;
  readonly retryAfterS: number;
}

/** Installs the cap on `server`; returns the open connections per address (for tests and metrics). */
export function capConnectionsPerAddress(
  server: Server,
  options: ConnectionCapOptions,
): ReadonlyMap<string, number> {
  const open = new Map<string, number>();
  // The http server's own listeners (its parser) run only for accepted sockets: a request on a
  // refused connection is never read, let alone executed.
  const serve = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = open.get(address) ?? 0;
    if (count >= options.maxPerAddress) {
      refuse(socket, options);
      return;
    }
    for (const listener of serve) listener.call(server, socket);
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
  return open;
}

function refuse(socket: Socket, options: ConnectionCapOptions): void {
  const problem = new ApiError(
    'OVERLOADED',
    `more than ${options.maxPerAddress} connections are open from this address; reuse one (keep-alive) or wait`,
    { headers: { 'Retry-After': String(options.retryAfterS) } },
  );
  socket.on('error', () => undefined);
  socket.end(rawProblemResponse(problem, randomUUID()));
  setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
}
