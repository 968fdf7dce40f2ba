/**
 * The Elasticsearch `transactions` projection: one document per payment (the read model of
 * projections/payment-view.ts), for search and transaction history.
 *
 * Idempotent by construction: each document is written with `version_type: external` and the
 * payment's last event sequence as its version, so a replayed or older batch can never move a
 * document backwards; Elasticsearch answers such writes with a version conflict, which is the
 * expected outcome of a replay and is not an error.
 *
 * `index` is an alias (`migrate` creates `<index>-v1` behind it), so a rebuild
 * (elasticsearch/rebuild.ts) can put another index behind the same name; the projection reads
 * and writes through whatever name it is given, an alias or a concrete index.
 */
import type { Client } from '@elastic/elasticsearch';

import {
  searchWords,
  type AccountPaymentsQuery,
  type HeldCursor,
  type PaymentSearch,
  type PaymentSearchQuery,
  type PaymentView,
} from '../../gateway/ports.js';
import type { RiskAssessment } from '../../schemas/types.js';
import { applyPaymentEvents, type PaymentReadModel, type ProjectedPaymentEvent } from '../payment-view.js';

/** Bound on one bulk request. */
export const MAX_DOCUMENTS_PER_BULK = 1_000;

/**
 * keyword/text/long/date only: the mapping must work on every Elasticsearch 8 distribution,
 * including ones without the analysis-common module (standard analyzer only).
 */
export const TRANSACTIONS_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    paymentId: { type: 'keyword' },
    kind: { type: 'keyword' },
    principal: { type: 'keyword' },
    status: { type: 'keyword' },
    amountMinor: { type: 'long' },
    currency: { type: 'keyword' },
    senderAccountId: { type: 'keyword' },
    recipientAccountId: { type: 'keyword' },
    reference: { type: 'text' },
    // The reference's words as the gateway splits them (searchWords): the search's terms, so
    // every backend answers a text search with the same set. Absent in documents written before
    // the field existed (rebuild the index to search those).
    referenceWords: { type: 'keyword' },
    rejectionCode: { type: 'keyword' },
    rejectionDetail: { type: 'text' },
    riskScore: { type: 'integer' },
    // The score's reasons are shown, not searched.
    risk: { type: 'object', enabled: false },
    events: {
      properties: {
        type: { type: 'keyword' },
        occurredAtMs: { type: 'date', format: 'epoch_millis' },
        recordedAtMs: { type: 'date', format: 'epoch_millis' },
        sequence: { type: 'integer' },
      },
    },
    createdAt: { type: 'date', format: 'epoch_millis' },
    updatedAt: { type: 'date', format: 'epoch_millis' },
  },
} as const;

/** The stored document. The amount travels as a decimal string: JSON numbers lose int64 precision in JavaScript. */
export interface TransactionDocument {
  paymentId: string;
  kind: string;
  principal: string | null;
  status: string;
  amountMinor: string;
  currency: string;
  senderAccountId: string;
  recipientAccountId: string;
  reference: string | null;
  referenceWords?: string[];
  rejectionCode: string | null;
  rejectionDetail: string | null;
  /** Absent in documents written before risk scoring existed. */
  riskScore?: number | null;
  risk?: RiskAssessment | null;
  /** recordedAtMs is absent in documents written before the field existed. */
  events: { type: string; occurredAtMs: number; recordedAtMs?: number; sequence: number }[];
  createdAt: number;
  updatedAt: number;
}

/** The document of a payment as the index stores it. */
export function transactionDocument(view: PaymentReadModel): TransactionDocument {
  return {
    paymentId: view.paymentId,
    kind: view.kind,
    principal: view.principal,
    status: view.status,
    amountMinor: view.amountMinor.toString(),
    currency: view.currency,
    senderAccountId: view.senderAccountId,
    recipientAccountId: view.recipientAccountId,
    reference: view.reference,
    referenceWords: searchWords(view.reference),
    rejectionCode: view.rejection?.code ?? null,
    rejectionDetail: view.rejection?.detail ?? null,
    riskScore: view.risk?.score ?? null,
    risk: view.risk,
    events: [...view.events],
    createdAt: view.createdAtMs,
    updatedAt: view.updatedAtMs,
  };
}

function fromDocument(doc: TransactionDocument): PaymentReadModel {
  return {
    paymentId: doc.paymentId,
    kind: doc.kind as PaymentReadModel['kind'],
    principal: doc.principal,
    status: doc.status as PaymentReadModel['status'],
    amountMinor: BigInt(doc.amountMinor),
    currency: doc.currency,
    senderAccountId: doc.senderAccountId,
    recipientAccountId: doc.recipientAccountId,
    reference: doc.reference,
    rejection: doc.rejectionCode === null ? null : { code: doc.rejectionCode, detail: doc.rejectionDetail },
    risk: doc.risk ?? null,
    events: doc.events.map((e) => ({ ...e, recordedAtMs: e.recordedAtMs ?? e.occurredAtMs })),
    createdAtMs: doc.createdAt,
    updatedAtMs: doc.updatedAt,
  };
}

/** One refused document of a bulk answer. */
export interface BulkItemFailure {
  readonly id: string;
  readonly status: number;
  /** Elasticsearch's error type, e.g. `cluster_block_exception`. */
  readonly type: string;
  readonly reason: string;
}

/**
 * Whether Elasticsearch refused a document because the index can't take writes now rather than
 * because of the document: a write block on the index (`cluster_block_exception`, e.g. a
 * rebuild's hand-over or the disk's flood stage), throttling (429) or a shard's fault (5xx).
 */
export function isTransientItemFailure(failure: Pick<BulkItemFailure, 'status' | 'type'>): boolean {
  return failure.status === 429 || failure.status >= 500 || failure.type === 'cluster_block_exception';
}

export class BulkWriteError extends Error {
  /** True when any document was refused for a transient reason: the whole batch is retried. */
  readonly transient: boolean;
  readonly failures: readonly string[];
  constructor(readonly items: readonly BulkItemFailure[]) {
    const failures = items.map((item) => `${item.id}: ${item.type}: ${item.reason}`);
    super(`elasticsearch refused ${failures.length} document(s): ${failures.slice(0, 3).join('; ')}`);
    this.name = 'BulkWriteError';
    this.failures = failures;
    this.transient = items.some(isTransientItemFailure);
  }
}

/** The index name an alias's new deployment starts with (`migrate`). */
export function firstIndexOf(alias: string): string {
  return `${alias}-v1`;
}

const isResponse = (error: unknown, type: string) =>
  (error as { body?: { error?: { type?: unknown } } } | null)?.body?.error?.type === type;

export class ElasticsearchTransactionsProjection implements PaymentSearch {
  constructor(
    private readonly client: Client,
    readonly index: string,
  ) {}

  /**
   * Makes `index` ready to read and write:
   * - an alias (the layout of this version): the index behind it gets the fields a newer mapping
   *   has (the mapping is strict; existing fields never change);
   * - a concrete index of that name (a deployment from before the alias): the same, and it is
   *   written under its name until a rebuild swaps it for an alias of the rebuilt index;
   * - neither: creates `<index>-v1` with the mapping and the alias `index` on it in one request.
   *   Two processes starting at once both try; the one that finds it created uses it.
   */
  async migrate(): Promise<void> {
    if (!(await this.client.indices.exists({ index: this.index }))) {
      try {
        await this.client.indices.create({
          index: firstIndexOf(this.index),
          mappings: TRANSACTIONS_MAPPINGS,
          aliases: { [this.index]: {} },
        });
        return;
      } catch (error) {
        if (!isResponse(error, 'resource_already_exists_exception')) throw error;
        if (!(await this.client.indices.exists({ index: this.index })))
          throw new Error(
            `the index ${firstIndexOf(this.index)} exists without the alias ${this.index}: point the alias at the index to use (POST /_aliases) or delete it`,
            { cause: error },
          );
      }
    }
    await this.client.indices.putMapping({
      index: this.index,
      properties: TRANSACTIONS_MAPPINGS.properties,
    });
  }

  /** Creates `index` as a new concrete index with the mapping and `settings` (a rebuild's). */
  async create(settings: Record<string, string | number>): Promise<void> {
    await this.client.indices.create({ index: this.index, mappings: TRANSACTIONS_MAPPINGS, settings });
  }

  async apply(events: readonly ProjectedPaymentEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += MAX_DOCUMENTS_PER_BULK) {
      await this.#applySlice(events.slice(start, start + MAX_DOCUMENTS_PER_BULK));
    }
  }

  async #load(paymentIds: readonly string[]): Promise<Map<string, PaymentReadModel>> {
    const response = await this.client.mget<TransactionDocument>({ index: this.index, ids: [...paymentIds] });
    const views = new Map<string, PaymentReadModel>();
    for (const doc of response.docs) {
      if ('found' in doc && doc.found && doc._source) views.set(doc._id, fromDocument(doc._source));
    }
    return views;
  }

  async #applySlice(events: readonly ProjectedPaymentEvent[]): Promise<void> {
    const views = await this.#load([...new Set(events.map((e) => e.paymentId))]);
    const changed = applyPaymentEvents(views, events);
    if (changed.size === 0) return;
    const operations = [...changed].flatMap((paymentId) => {
      const view = views.get(paymentId)!;
      const version = view.events.at(-1)?.sequence ?? 0;
      return [
        { index: { _index: this.index, _id: paymentId, version, version_type: 'external' as const } },
        transactionDocument(view),
      ];
    });
    const response = await this.client.bulk({ operations, refresh: false });
    const failures = response.items.flatMap(({ index: result }) =>
      result?.error === undefined || result.status === 409
        ? []
        : [
            {
              id: result._id ?? '',
              status: result.status,
              type: result.error.type,
              reason: result.error.reason ?? 'unknown',
            },
          ],
    );
    if (failures.length > 0) throw new BulkWriteError(failures);
  }

  async getPayment(paymentId: string): Promise<PaymentView | undefined> {
    return (await this.#load([paymentId])).get(paymentId);
  }

  /** HELD payments, oldest first (a held payment's last update is its hold). */
  async listHeld(limit: number, after: HeldCursor | undefined): Promise<readonly PaymentView[]> {
    const response = await this.client.search<TransactionDocument>({
      index: this.index,
      size: Math.min(limit, 100),
      sort: [{ updatedAt: 'asc' }, { paymentId: 'asc' }],
      query: { term: { status: 'HELD' } },
      ...(after === undefined ? {} : { search_after: [after.heldAtMs, after.paymentId] }),
    });
    return response.hits.hits.flatMap((hit) => (hit._source ? [fromDocument(hit._source)] : []));
  }

  /**
   * Search, newest first (ties by payment id): filters only, no scoring, so the order is stable
   * and pages follow with search_after. The text matches the reference's words, all of them
   * (`searchWords`, indexed as `referenceWords`).
   */
  async searchPayments(query: PaymentSearchQuery): Promise<readonly PaymentView[]> {
    const createdAt = {
      ...(query.fromMs === undefined ? {} : { gte: query.fromMs }),
      ...(query.toMs === undefined ? {} : { lt: query.toMs }),
    };
    const amountMinor = {
      ...(query.minAmountMinor === undefined ? {} : { gte: query.minAmountMinor.toString() }),
      ...(query.maxAmountMinor === undefined ? {} : { lte: query.maxAmountMinor.toString() }),
    };
    const filter: object[] = [
      ...(query.status === undefined ? [] : [{ term: { status: query.status } }]),
      ...(query.currency === undefined ? [] : [{ term: { currency: query.currency } }]),
      ...(Object.keys(createdAt).length === 0 ? [] : [{ range: { createdAt } }]),
      ...(Object.keys(amountMinor).length === 0 ? [] : [{ range: { amountMinor } }]),
      ...(query.text === undefined
        ? []
        : searchWords(query.text).map((word) => ({ term: { referenceWords: word } }))),
      ...(query.accountId === undefined
        ? []
        : [
            {
              bool: {
                should: [
                  { term: { senderAccountId: query.accountId } },
                  { term: { recipientAccountId: query.accountId } },
                ],
                minimum_should_match: 1,
              },
            },
          ]),
    ];
    const response = await this.client.search<TransactionDocument>({
      index: this.index,
      size: Math.min(query.limit, 101),
      sort: [{ createdAt: 'desc' }, { paymentId: 'desc' }],
      query: { bool: { filter } },
      ...(query.after === undefined
        ? {}
        : { search_after: [query.after.createdAtMs, query.after.paymentId] }),
    });
    return response.hits.hits.flatMap((hit) => (hit._source ? [fromDocument(hit._source)] : []));
  }

  /** A sender's or recipient's transactions, newest first (ties by payment id): the history query. */
  async accountPayments(query: AccountPaymentsQuery): Promise<readonly PaymentView[]> {
    const createdAt = {
      ...(query.fromMs === undefined ? {} : { gte: query.fromMs }),
      ...(query.toMs === undefined ? {} : { lt: query.toMs }),
    };
    const response = await this.client.search<TransactionDocument>({
      index: this.index,
      size: Math.min(query.limit, 101),
      sort: [{ createdAt: 'desc' }, { paymentId: 'desc' }],
      query: {
        bool: {
          should: [
            { term: { senderAccountId: query.accountId } },
            { term: { recipientAccountId: query.accountId } },
          ],
          minimum_should_match: 1,
          filter: [
            ...(query.status === undefined ? [] : [{ term: { status: query.status } }]),
            ...(Object.keys(createdAt).length === 0 ? [] : [{ range: { createdAt } }]),
          ],
        },
      },
      ...(query.after === undefined
        ? {}
        : { search_after: [query.after.createdAtMs, query.after.paymentId] }),
    });
    return response.hits.hits.flatMap((hit) => (hit._source ? [fromDocument(hit._source)] : []));
  }
}
