/**
 * One partner simulator: an HTTP server on loopback that speaks its partner's dialect, keeps its
 * own ledger of executed references (each executed at most once: a repeat returns the original
 * result), answers status queries by reference, and obeys the fault control API:
 *
 *   PUT  /__control/faults    {"failureRate","timeoutRate","refusalRate","timeoutExecutedShare","latencyMs","down","seed"}
 *   GET  /__control/faults    the current settings
 *   GET  /__control/executed  {"partner","executed":[{"reference","partnerId","amountMinor","currency","executedAt","requests"}]}
 *   POST /__control/reset     forgets every reference and clears the faults
 *   GET  /__control/health    200 while serving (even when `down`)
 *
 * A timed-out request is never answered: its connection stays open until the client gives up
 * (or `hangMs` passes, then the socket is destroyed).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { ibanProblem } from '../../schemas/iban.js';
import type {
  Answer,
  Dialect,
  Executed,
  IncomingCall,
  Instruction,
  PartnerName,
  Refusal,
  Refused,
} from './dialect.js';
import { FAULTS_SCHEMA, FaultControl, type Draw } from './faults.js';

export interface SimulatorOptions {
  /** 0: any free port. */
  readonly port?: number;
  /** Loopback (127.0.0.1 or ::1); 0.0.0.0 only inside a container whose port is published on loopback. */
  readonly host?: '127.0.0.1' | '::1' | '0.0.0.0';
  /** Seed of the fault draws. */
  readonly seed?: number;
  /** How long an unanswered (timed-out) request holds its connection at most. */
  readonly hangMs?: number;
  /** Bound on the references remembered (executed and refused). */
  readonly maxReferences?: number;
}

const BODY_LIMIT_BYTES = 65_536;
const DEFAULT_HANG_MS = 60_000;
const DEFAULT_MAX_REFERENCES = 1_000_000;

const DOWN: Answer = {
  status: 503,
  body: '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>\n',
  headers: { 'content-type': 'text/html' },
};

interface Remembered {
  readonly fingerprint: string;
  readonly executed?: Executed;
  readonly refused?: Refused;
  requests: number;
}

/** What makes a repeat the same request (the deadline is the sender's, not the payment's). */
const fingerprintOf = (i: Instruction) =>
  `${i.amountMinor}|${i.currency}|${i.beneficiary.iban}|${i.beneficiary.name}`;

export class PartnerSimulator {
  readonly faults: FaultControl;
  private readonly references = new Map<string, Remembered>();
  private readonly executedOrder: string[] = [];
  private readonly hanging = new Set<ServerResponse>();
  private readonly server: Server;
  private readonly hangMs: number;
  private readonly maxReferences: number;

  private constructor(
    readonly dialect: Dialect,
    options: SimulatorOptions,
  ) {
    this.faults = new FaultControl(options.seed ?? 1);
    this.hangMs = options.hangMs ?? DEFAULT_HANG_MS;
    this.maxReferences = options.maxReferences ?? DEFAULT_MAX_REFERENCES;
    this.server = createServer({ keepAliveTimeout: 5_000 }, (request, response) => {
      this.serve(request, response).catch((error: unknown) => {
        if (!response.headersSent) this.write(response, { status: 500, body: { internal: String(error) } });
        else response.destroy();
      });
    });
  }

  /** Starts a simulator listening on loopback; resolves once it accepts connections. */
  static async start(dialect: Dialect, options: SimulatorOptions = {}): Promise<PartnerSimulator> {
    const simulator = new PartnerSimulator(dialect, options);
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      simulator.server.once('error', reject);
      simulator.server.listen(options.port ?? 0, host, () => resolve());
    });
    return simulator;
  }

  get partner(): PartnerName {
    return this.dialect.partner;
  }

  get url(): string {
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /** The executed references in execution order. */
  executed(): readonly (Executed & { readonly requests: number })[] {
    return this.executedOrder.map((reference) => {
      const remembered = this.references.get(reference)!;
      return { ...remembered.executed!, requests: remembered.requests };
    });
  }

  reset(): void {
    this.references.clear();
    this.executedOrder.length = 0;
    this.faults.set({ ...FAULTS_SCHEMA.parse({}) });
  }

  async close(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://simulator');
    const call: IncomingCall = {
      method: request.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body: await readBody(request),
    };
    if (call.path.startsWith('/__control/')) return this.write(response, this.control(call));
    const operation = this.dialect.route(call.method, call.path);
    if (operation === undefined)
      return this.write(response, { status: 404, body: { message: 'no such route' } });
    if (this.faults.faults.down) return this.write(response, DOWN);
    const draw = this.faults.draw(operation);
    const answer = operation === 'execute' ? this.execute(call, draw) : this.status(call);
    if (draw === 'timeout-executed' || draw === 'timeout-not-executed') return this.hang(response);
    if (this.faults.faults.latencyMs > 0) await sleep(this.faults.faults.latencyMs);
    this.write(response, draw === 'failure' ? this.dialect.technicalFailure() : answer);
  }

  /** Applies an execution (unless the draw says it never reached the ledger) and returns its answer. */
  private execute(call: IncomingCall, draw: Draw): Answer {
    const decoded = this.dialect.decodeExecute(call);
    if ('malformed' in decoded)
      return this.dialect.refused({ reference: '', refusal: 'bad-request', message: decoded.malformed });
    if (draw === 'failure' || draw === 'timeout-not-executed') return this.dialect.technicalFailure();
    if (decoded.deadlineMs !== undefined && Date.now() > decoded.deadlineMs)
      return this.dialect.refused({
        reference: decoded.reference,
        refusal: 'expired',
        message: 'the request arrived after its deadline',
      });
    const remembered = this.references.get(decoded.reference);
    if (remembered !== undefined) {
      remembered.requests += 1;
      if (remembered.fingerprint !== fingerprintOf(decoded))
        return this.dialect.refused({
          reference: decoded.reference,
          refusal: 'reference-conflict',
          message: 'the reference was used before with a different amount, currency or beneficiary',
        });
      if (remembered.executed !== undefined) return this.dialect.executed(remembered.executed, true);
      return this.dialect.refused(remembered.refused!);
    }
    const refusal = this.refusalOf(decoded, draw);
    if (refusal !== undefined) {
      const refused: Refused = { reference: decoded.reference, ...refusal };
      this.remember(decoded, { refused });
      return this.dialect.refused(refused);
    }
    const executed: Executed = {
      reference: decoded.reference,
      amountMinor: decoded.amountMinor,
      currency: decoded.currency,
      beneficiary: decoded.beneficiary,
      partnerId: `${this.dialect.idPrefix}${randomUUID().replaceAll('-', '').slice(0, 20)}`,
      executedAt: new Date().toISOString(),
    };
    this.remember(decoded, { executed });
    this.executedOrder.push(decoded.reference);
    return this.dialect.executed(executed, false);
  }

  private refusalOf(instruction: Instruction, draw: Draw): { refusal: Refusal; message: string } | undefined {
    if (!this.dialect.currencies.has(instruction.currency))
      return { refusal: 'unsupported-currency', message: `${instruction.currency} is not offered` };
    if (instruction.amountMinor <= 0n)
      return { refusal: 'invalid-amount', message: 'amount must be positive' };
    const problem = ibanProblem(instruction.beneficiary.iban);
    if (problem !== undefined) return { refusal: 'invalid-beneficiary', message: `the IBAN ${problem}` };
    if (draw === 'refusal')
      return { refusal: 'partner-limit', message: 'daily limit of the partner reached' };
    return undefined;
  }

  private remember(instruction: Instruction, outcome: Pick<Remembered, 'executed' | 'refused'>): void {
    if (this.references.size >= this.maxReferences)
      throw new Error(`simulator ${this.partner}: more than ${this.maxReferences} references`);
    this.references.set(instruction.reference, {
      fingerprint: fingerprintOf(instruction),
      requests: 1,
      ...outcome,
    });
  }

  private status(call: IncomingCall): Answer {
    const decoded = this.dialect.decodeStatus(call);
    if ('malformed' in decoded)
      return this.dialect.refused({ reference: '', refusal: 'bad-request', message: decoded.malformed });
    const remembered = this.references.get(decoded.reference);
    if (remembered?.executed !== undefined) return this.dialect.statusExecuted(remembered.executed);
    if (remembered?.refused !== undefined) return this.dialect.statusRefused(remembered.refused);
    return this.dialect.notFound(decoded.reference);
  }

  private control(call: IncomingCall): Answer {
    const route = `${call.method} ${call.path}`;
    if (route === 'GET /__control/health') return { status: 200, body: { partner: this.partner, ok: true } };
    if (route === 'GET /__control/faults') return { status: 200, body: this.faults.faults };
    if (route === 'PUT /__control/faults') {
      let document: unknown;
      try {
        document = JSON.parse(call.body);
      } catch {
        return { status: 400, body: { problems: ['the body is not JSON'] } };
      }
      const parsed = FAULTS_SCHEMA.safeParse(document);
      if (!parsed.success)
        return {
          status: 400,
          body: { problems: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`) },
        };
      this.faults.set(parsed.data);
      return { status: 200, body: this.faults.faults };
    }
    if (route === 'GET /__control/executed')
      return {
        status: 200,
        body: {
          partner: this.partner,
          executed: this.executed().map((e) => ({
            reference: e.reference,
            partnerId: e.partnerId,
            amountMinor: e.amountMinor.toString(),
            currency: e.currency,
            executedAt: e.executedAt,
            requests: e.requests,
          })),
        },
      };
    if (route === 'POST /__control/reset') {
      this.reset();
      return { status: 204, body: '' };
    }
    return { status: 404, body: { message: 'no such control route' } };
  }

  private hang(response: ServerResponse): void {
    this.hanging.add(response);
    const timer = setTimeout(() => response.destroy(), this.hangMs);
    timer.unref();
    response.on('close', () => {
      clearTimeout(timer);
      this.hanging.delete(response);
    });
  }

  private write(response: ServerResponse, answer: Answer): void {
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    response.writeHead(answer.status, {
      'content-type': 'application/json',
      ...answer.headers,
      'content-length': Buffer.byteLength(text),
    });
    response.end(text);
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT_BYTES) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
