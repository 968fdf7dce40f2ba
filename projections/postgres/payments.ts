/**
 * The PostgreSQL payments projection: applies batches of payment events in one database
 * transaction each (event store rows + current-state rows), and answers the gateway's
 * `PaymentQueries` from the same tables.
 */
import { readFile } from 'node:fs/promises';

import type pg from 'pg';

import {
  heldAtOf,
  searchWords,
  type AccountPaymentsQuery,
  type HeldCursor,
  type PaymentQueries,
  type PaymentSearchQuery,
  type PaymentView,
  type StoredPaymentEvent,
} from '../../gateway/ports.js';
import type { PaymentKind, PaymentStatus, RiskAssessment } from '../../schemas/types.js';
import { applyPaymentEvents, type PaymentReadModel, type ProjectedPaymentEvent } from '../payment-view.js';
import { inTransaction } from './transaction.js';

/**
 * PostgreSQL text can't hold U+0000; a NUL in a payment's text (a hostile `reference`) would make
 * every write of its rows fail. The read model stores U+FFFD in its place; the log keeps the
 * original bytes.
 */
export function storableText<T extends string | null>(text: T): T {
  return (text === null ? null : text.replaceAll('\u0000', '\uFFFD')) as T;
}

/** Bound on one batch: larger batches are split so one transaction never holds too many locks. */
export const MAX_EVENTS_PER_TRANSACTION = 1_000;

const DDL_URL = new URL('./ddl.sql', import.meta.url);

/** The schema of the live read model; a rebuild fills a schema of its own, then swaps the tables in. */
export const PAYMENTS_SCHEMA = 'payflow';

/** A schema name safe to put in SQL text unquoted. */
export function checkedSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new Error(`not a schema name: ${JSON.stringify(schema)}`);
  return schema;
}

/** `sql` (written for the payflow schema) for the tables in `schema`. */
function inSchema(schema: string, sql: string): string {
  return schema === PAYMENTS_SCHEMA ? sql : sql.replaceAll(/\bpayflow\b(?=[.;\s])/g, checkedSchema(schema));
}

/**
 * Creates the schema and tables if they are missing (every statement is IF NOT EXISTS), in
 * `schema` (default payflow).
 */
export async function migratePaymentsProjection(
  pool: pg.Pool,
  schema: string = PAYMENTS_SCHEMA,
): Promise<void> {
  await pool.query(inSchema(schema, await readFile(DDL_URL, 'utf8')));
  await fillReferenceWords(pool, schema);
}

/** Rows filled per statement by fillReferenceWords: each a short transaction of its own. */
const REFERENCE_WORDS_BATCH = 5_000;

/**
 * The reference words of rows written before the column existed, by `searchWords` (the split
 * every backend uses), a batch per statement so no lock is held long; a no-op once filled.
 */
async function fillReferenceWords(pool: pg.Pool, schema: string): Promise<void> {
  for (;;) {
    const { rows } = await pool.query<{ payment_id: string; reference: string }>(
      inSchema(
        schema,
        `SELECT payment_id, reference FROM payflow.payments
          WHERE reference_words IS NULL AND reference IS NOT NULL LIMIT $1`,
      ),
      [REFERENCE_WORDS_BATCH],
    );
    if (rows.length === 0) return;
    await pool.query(
      inSchema(
        schema,
        `UPDATE payflow.payments p SET reference_words = string_to_array(w.words, ' ')
           FROM unnest($1::text[], $2::text[]) AS w(payment_id, words)
          WHERE p.payment_id = w.payment_id`,
      ),
      [rows.map((row) => row.payment_id), rows.map((row) => searchWords(row.reference).join(' '))],
    );
    if (rows.length < REFERENCE_WORDS_BATCH) return;
  }
}

interface PaymentRow {
  payment_id: string;
  kind: PaymentKind;
  principal: string | null;
  status: PaymentStatus;
  amount_minor: string;
  currency: string;
  sender_account_id: string;
  recipient_account_id: string;
  reference: string | null;
  rejection_code: string | null;
  rejection_detail: string | null;
  risk: RiskAssessment | null;
  created_at: Date;
  updated_at: Date;
}

interface EventRow {
  payment_id: string;
  type: string;
  sequence: number;
  occurred_at: Date;
  /** COALESCE(recorded_at, occurred_at). */
  recorded_at: Date;
}

function toReadModel(row: PaymentRow, events: readonly EventRow[]): PaymentReadModel {
  return {
    paymentId: row.payment_id,
    kind: row.kind,
    principal: row.principal,
    status: row.status,
    amountMinor: BigInt(row.amount_minor),
    currency: row.currency,
    senderAccountId: row.sender_account_id,
    recipientAccountId: row.recipient_account_id,
    reference: row.reference,
    rejection:
      row.rejection_code === null ? null : { code: row.rejection_code, detail: row.rejection_detail },
    risk: row.risk,
    events: events.map((e) => ({
      type: e.type,
      occurredAtMs: e.occurred_at.getTime(),
      recordedAtMs: e.recorded_at.getTime(),
      sequence: e.sequence,
    })),
    createdAtMs: row.created_at.getTime(),
    updatedAtMs: row.updated_at.getTime(),
  };
}

async function loadViews(
  client: pg.ClientBase,
  schema: string,
  paymentIds: readonly string[],
): Promise<Map<string, PaymentReadModel>> {
  const rows = await client.query<PaymentRow>(
    inSchema(schema, 'SELECT * FROM payflow.payments WHERE payment_id = ANY($1) FOR UPDATE'),
    [paymentIds],
  );
  const events = await client.query<EventRow>(
    inSchema(
      schema,
      `SELECT payment_id, type, sequence, occurred_at, COALESCE(recorded_at, occurred_at) AS recorded_at
       FROM payflow.payment_events
      WHERE payment_id = ANY($1) ORDER BY payment_id, sequence`,
    ),
    [paymentIds],
  );
  const views = new Map<string, PaymentReadModel>();
  for (const row of rows.rows) {
    views.set(
      row.payment_id,
      toReadModel(
        row,
        events.rows.filter((e) => e.payment_id === row.payment_id),
      ),
    );
  }
  return views;
}

async function insertEvents(
  client: pg.ClientBase,
  schema: string,
  events: readonly ProjectedPaymentEvent[],
): Promise<void> {
  await client.query(
    inSchema(
      schema,
      `INSERT INTO payflow.payment_events
       (event_id, payment_id, sequence, type, occurred_at, correlation_id, recorded_at, facts)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::text[],
       $7::timestamptz[], $8::jsonb[])
     ON CONFLICT (event_id) DO UPDATE SET facts = EXCLUDED.facts WHERE payflow.payment_events.facts IS NULL`,
    ),
    [
      events.map((e) => storableText(e.eventId)),
      events.map((e) => storableText(e.paymentId)),
      events.map((e) => e.sequence),
      events.map((e) => storableText(e.type)),
      events.map((e) => new Date(e.occurredAtMs)),
      events.map((e) => storableText(e.correlationId)),
      events.map((e) => (e.recordedAtMs === undefined ? null : new Date(e.recordedAtMs))),
      events.map((e) => JSON.stringify(storedFacts(e))),
    ],
  );
}

/** `payment_events.facts`: what the event carries beyond its type and times, as JSON. */
interface StoredFacts {
  readonly initiated?: Omit<NonNullable<ProjectedPaymentEvent['initiated']>, 'amountMinor'> & {
    readonly amountMinor: string;
  };
  readonly rejection?: ProjectedPaymentEvent['rejection'];
  readonly risk?: RiskAssessment;
}

function storedFacts(event: ProjectedPaymentEvent): StoredFacts {
  const facts = event.initiated;
  return {
    ...(facts === undefined
      ? {}
      : {
          initiated: {
            kind: facts.kind,
            principal: storableText(facts.principal),
            senderAccountId: storableText(facts.senderAccountId),
            recipientAccountId: storableText(facts.recipientAccountId),
            amountMinor: facts.amountMinor.toString(),
            currency: storableText(facts.currency),
            reference: storableText(facts.reference),
          },
        }),
    ...(event.rejection === undefined
      ? {}
      : {
          rejection: {
            code: storableText(event.rejection.code),
            detail: storableText(event.rejection.detail),
          },
        }),
    ...(event.risk === undefined ? {} : { risk: riskStorable(event.risk) }),
  };
}

interface StoredEventRow {
  event_id: string;
  payment_id: string;
  sequence: number;
  type: string;
  occurred_at: Date;
  recorded_at: Date | null;
  correlation_id: string | null;
  facts: StoredFacts | null;
}

/** A `payment_events` row as the event the fold reads; facts null for a row stored before them. */
function storedEvent(row: StoredEventRow): ProjectedPaymentEvent {
  const facts = row.facts ?? {};
  return {
    eventId: row.event_id,
    paymentId: row.payment_id,
    type: row.type,
    sequence: row.sequence,
    occurredAtMs: row.occurred_at.getTime(),
    ...(row.recorded_at === null ? {} : { recordedAtMs: row.recorded_at.getTime() }),
    correlationId: row.correlation_id,
    ...(facts.initiated === undefined
      ? {}
      : { initiated: { ...facts.initiated, amountMinor: BigInt(facts.initiated.amountMinor) } }),
    ...(facts.rejection === undefined ? {} : { rejection: facts.rejection }),
    ...(facts.risk === undefined ? {} : { risk: facts.risk }),
  };
}

async function upsertPayment(client: pg.ClientBase, schema: string, view: PaymentReadModel): Promise<void> {
  await client.query(
    inSchema(
      schema,
      `INSERT INTO payflow.payments (payment_id, kind, principal, status, amount_minor, currency,
       sender_account_id, recipient_account_id, reference, rejection_code, rejection_detail,
       last_sequence, created_at, updated_at, risk, held_at, reference_words)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
     ON CONFLICT (payment_id) DO UPDATE SET
       status = EXCLUDED.status, rejection_code = EXCLUDED.rejection_code,
       rejection_detail = EXCLUDED.rejection_detail, last_sequence = EXCLUDED.last_sequence,
       risk = EXCLUDED.risk, held_at = EXCLUDED.held_at,
       updated_at = EXCLUDED.updated_at
     WHERE payflow.payments.last_sequence < EXCLUDED.last_sequence`,
    ),
    [
      storableText(view.paymentId),
      view.kind,
      storableText(view.principal),
      view.status,
      view.amountMinor.toString(),
      storableText(view.currency),
      storableText(view.senderAccountId),
      storableText(view.recipientAccountId),
      storableText(view.reference),
      storableText(view.rejection?.code ?? null),
      storableText(view.rejection?.detail ?? null),
      view.events.at(-1)?.sequence ?? 0,
      new Date(view.createdAtMs),
      new Date(view.updatedAtMs),
      view.risk === null ? null : JSON.stringify(riskStorable(view.risk)),
      ((at) => (at === undefined ? null : new Date(at)))(heldAtOf(view)),
      view.reference === null ? null : searchWords(storableText(view.reference)),
    ],
  );
}

/** The score as JSON text PostgreSQL accepts (no NUL in a reason's detail). */
function riskStorable(risk: RiskAssessment): RiskAssessment {
  return {
    ...risk,
    reasons: risk.reasons.map((reason) => ({
      ...reason,
      code: storableText(reason.code),
      detail: storableText(reason.detail),
    })),
  };
}

export class PostgresPaymentsProjection implements PaymentQueries {
  readonly #schema: string;

  /** `schema`: where its tables are (default payflow; a rebuild writes to a schema of its own). */
  constructor(
    private readonly pool: pg.Pool,
    options: { readonly schema?: string } = {},
  ) {
    this.#schema = checkedSchema(options.schema ?? PAYMENTS_SCHEMA);
  }

  /**
   * Applies events (in log order) idempotently: events already stored change nothing. Each
   * slice of at most MAX_EVENTS_PER_TRANSACTION events commits atomically or not at all.
   */
  async apply(events: readonly ProjectedPaymentEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += MAX_EVENTS_PER_TRANSACTION) {
      await this.#applySlice(events.slice(start, start + MAX_EVENTS_PER_TRANSACTION));
    }
  }

  async #applySlice(events: readonly ProjectedPaymentEvent[]): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      const views = await loadViews(client, this.#schema, [...new Set(events.map((e) => e.paymentId))]);
      const changed = applyPaymentEvents(views, events);
      await insertEvents(client, this.#schema, events);
      for (const paymentId of changed) await upsertPayment(client, this.#schema, views.get(paymentId)!);
    });
  }

  /**
   * The gateway's read: the payment and its events from one snapshot (a single statement), so
   * a concurrent projection commit can't show a status without the event that set it.
   */
  /** The review queue: HELD payments by hold time (payments_held_idx), with their events. */
  async listHeld(limit: number, after: HeldCursor | undefined): Promise<readonly PaymentView[]> {
    const { rows } = await this.pool.query<{ payment_id: string }>(
      inSchema(
        this.#schema,
        `SELECT payment_id FROM payflow.payments
        WHERE status = 'HELD' AND ($2::timestamptz IS NULL OR (held_at, payment_id) > ($2, $3))
        ORDER BY held_at, payment_id LIMIT $1`,
      ),
      [limit, after === undefined ? null : new Date(after.heldAtMs), after?.paymentId ?? ''],
    );
    return this.#inOrder(rows.map((row) => row.payment_id));
  }

  /**
   * An account's payments, newest first: each side through its own index
   * (payments_sender_idx, payments_recipient_idx), at most `limit` rows from each, merged.
   */
  async accountPayments(query: AccountPaymentsQuery): Promise<readonly PaymentView[]> {
    const side = (column: string) => `(SELECT payment_id, created_at FROM ${this.#schema}.payments
        WHERE ${column} = $1
          AND ($2::text IS NULL OR status = $2)
          AND ($3::timestamptz IS NULL OR created_at >= $3)
          AND ($4::timestamptz IS NULL OR created_at < $4)
          AND ($5::timestamptz IS NULL OR (created_at, payment_id) < ($5, $6))
        ORDER BY created_at DESC, payment_id DESC LIMIT $7)`;
    const { rows } = await this.pool.query<{ payment_id: string }>(
      `SELECT payment_id, created_at FROM (${side('sender_account_id')} UNION ${side('recipient_account_id')}) page
        ORDER BY created_at DESC, payment_id DESC LIMIT $7`,
      [
        query.accountId,
        query.status ?? null,
        query.fromMs === undefined ? null : new Date(query.fromMs),
        query.toMs === undefined ? null : new Date(query.toMs),
        query.after === undefined ? null : new Date(query.after.createdAtMs),
        query.after?.paymentId ?? '',
        query.limit,
      ],
    );
    return this.#inOrder(rows.map((row) => row.payment_id));
  }

  /**
   * Search, newest first: the filters given, the reference's words through
   * payments_reference_words_idx, an account's through its two indexes, else payments_created_idx.
   */
  async searchPayments(query: PaymentSearchQuery): Promise<readonly PaymentView[]> {
    const words = query.text === undefined ? null : searchWords(query.text);
    const { rows } = await this.pool.query<{ payment_id: string }>(
      inSchema(
        this.#schema,
        `SELECT payment_id FROM payflow.payments
        WHERE ($1::text IS NULL OR sender_account_id = $1 OR recipient_account_id = $1)
          AND ($2::text IS NULL OR status = $2)
          AND ($3::text IS NULL OR currency = $3)
          AND ($4::bigint IS NULL OR amount_minor >= $4)
          AND ($5::bigint IS NULL OR amount_minor <= $5)
          AND ($6::timestamptz IS NULL OR created_at >= $6)
          AND ($7::timestamptz IS NULL OR created_at < $7)
          AND ($8::timestamptz IS NULL OR (created_at, payment_id) < ($8, $9))
          AND ($10::text[] IS NULL OR reference_words @> $10)
        ORDER BY created_at DESC, payment_id DESC LIMIT $11`,
      ),
      [
        query.accountId ?? null,
        query.status ?? null,
        query.currency ?? null,
        query.minAmountMinor?.toString() ?? null,
        query.maxAmountMinor?.toString() ?? null,
        query.fromMs === undefined ? null : new Date(query.fromMs),
        query.toMs === undefined ? null : new Date(query.toMs),
        query.after === undefined ? null : new Date(query.after.createdAtMs),
        query.after?.paymentId ?? '',
        words,
        query.limit,
      ],
    );
    return this.#inOrder(rows.map((row) => row.payment_id));
  }

  /** The event store's rows of a payment, by sequence. */
  async paymentEvents(paymentId: string): Promise<readonly StoredPaymentEvent[]> {
    const { rows } = await this.pool.query<{
      event_id: string;
      type: string;
      sequence: number;
      occurred_at: Date;
      recorded_at: Date;
      correlation_id: string | null;
    }>(
      inSchema(
        this.#schema,
        `SELECT event_id, type, sequence, occurred_at, COALESCE(recorded_at, occurred_at) AS recorded_at,
              correlation_id
         FROM payflow.payment_events WHERE payment_id = $1 ORDER BY sequence`,
      ),
      [paymentId],
    );
    return rows.map((row) => ({
      eventId: row.event_id,
      type: row.type,
      sequence: row.sequence,
      occurredAtMs: row.occurred_at.getTime(),
      recordedAtMs: row.recorded_at.getTime(),
      correlationId: row.correlation_id,
    }));
  }

  /** The payments of `paymentIds`, read in one query, in the order of the ids. */
  async #inOrder(paymentIds: readonly string[]): Promise<PaymentView[]> {
    const views = await this.#getPayments(paymentIds);
    return paymentIds.flatMap((paymentId) => {
      const view = views.get(paymentId);
      return view === undefined ? [] : [view];
    });
  }

  /** The payments of `paymentIds` with their events, in one query. */
  async #getPayments(paymentIds: readonly string[]): Promise<Map<string, PaymentView>> {
    const views = new Map<string, PaymentView>();
    if (paymentIds.length === 0) return views;
    const { rows } = await this.pool.query<
      PaymentRow & {
        event_type: string;
        event_sequence: number;
        event_occurred_at: Date;
        event_recorded_at: Date;
      }
    >(
      inSchema(
        this.#schema,
        `SELECT p.*, e.type AS event_type, e.sequence AS event_sequence, e.occurred_at AS event_occurred_at,
              COALESCE(e.recorded_at, e.occurred_at) AS event_recorded_at
         FROM payflow.payments p JOIN payflow.payment_events e USING (payment_id)
        WHERE p.payment_id = ANY($1) ORDER BY p.payment_id, e.sequence`,
      ),
      [paymentIds],
    );
    const byPayment = new Map<string, typeof rows>();
    for (const row of rows) {
      const list = byPayment.get(row.payment_id) ?? [];
      list.push(row);
      byPayment.set(row.payment_id, list);
    }
    for (const [paymentId, list] of byPayment) {
      views.set(
        paymentId,
        toReadModel(
          list[0]!,
          list.map((r) => ({
            payment_id: paymentId,
            type: r.event_type,
            sequence: r.event_sequence,
            occurred_at: r.event_occurred_at,
            recorded_at: r.event_recorded_at,
          })),
        ),
      );
    }
    return views;
  }

  /** The stored events of `paymentIds` (the event store), each payment's in sequence order. */
  async storedEvents(paymentIds: readonly string[]): Promise<Map<string, ProjectedPaymentEvent[]>> {
    const { rows } = await this.pool.query<StoredEventRow>(
      inSchema(
        this.#schema,
        `SELECT event_id, payment_id, sequence, type, occurred_at, recorded_at, correlation_id, facts
         FROM payflow.payment_events WHERE payment_id = ANY($1) ORDER BY payment_id, sequence`,
      ),
      [paymentIds],
    );
    const byPayment = new Map<string, ProjectedPaymentEvent[]>();
    for (const row of rows) {
      const list = byPayment.get(row.payment_id) ?? [];
      list.push(storedEvent(row));
      byPayment.set(row.payment_id, list);
    }
    return byPayment;
  }

  /** The payments of `paymentIds` as the read model holds them (the `payments` rows). */
  async readModels(paymentIds: readonly string[]): Promise<Map<string, PaymentView>> {
    return this.#getPayments(paymentIds);
  }

  async getPayment(paymentId: string): Promise<PaymentView | undefined> {
    return (await this.#getPayments([paymentId])).get(paymentId);
  }
}
