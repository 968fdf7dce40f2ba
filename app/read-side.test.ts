import assert from 'node:assert/strict';
import { test } from 'node:test';

import { errors } from '@elastic/elasticsearch';

import { BulkWriteError } from '../projections/elasticsearch/transactions.js';
import { isUnreachableArchiveStore } from '../projections/s3-parquet/archive.js';
import { isUnreachableReadSide } from './read-side.js';

const responseError = (statusCode: number, type: string) =>
  new errors.ResponseError({
    body: { error: { type, reason: 'test' }, status: statusCode },
    statusCode,
    headers: {},
    warnings: null,
    meta: {} as never,
  });

const item = (status: number, type: string) => ({ id: 'p-1', status, type, reason: 'test' });

test('an index under a write block (a rebuild hand-over) is retried, never dead-lettered', () => {
  assert.equal(isUnreachableReadSide(new BulkWriteError([item(403, 'cluster_block_exception')])), true);
  assert.equal(isUnreachableReadSide(responseError(403, 'cluster_block_exception')), true);
});

test('documents refused for throttling or a shard fault are retried with the batch', () => {
  assert.equal(
    isUnreachableReadSide(new BulkWriteError([item(429, 'es_rejected_execution_exception')])),
    true,
  );
  assert.equal(isUnreachableReadSide(new BulkWriteError([item(503, 'unavailable_shards_exception')])), true);
  // One transient refusal retries the whole batch; the documents refused for their own sake
  // are dead-lettered one by one once the index takes writes again.
  assert.equal(
    isUnreachableReadSide(
      new BulkWriteError([item(400, 'document_parsing_exception'), item(403, 'cluster_block_exception')]),
    ),
    true,
  );
});

test('a document the mapping refuses is the record’s: dead-lettered, not retried', () => {
  const error = new BulkWriteError([item(400, 'strict_dynamic_mapping_exception')]);
  assert.equal(isUnreachableReadSide(error), false);
  assert.match(error.message, /refused 1 document\(s\): p-1: strict_dynamic_mapping_exception: test/);
  assert.equal(isUnreachableReadSide(responseError(400, 'illegal_argument_exception')), false);
  assert.equal(isUnreachableReadSide(responseError(403, 'security_exception')), false);
});

test('a throttled or failing server is retried whatever the error type', () => {
  assert.equal(isUnreachableReadSide(responseError(429, 'es_rejected_execution_exception')), true);
  assert.equal(isUnreachableReadSide(responseError(503, 'no_shard_available_action_exception')), true);
});

test('every answer of the archive’s store is waited out, even a 4xx; only a file that cannot be encoded is the records’', () => {
  const s3Error = (status: number, name: string) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  assert.equal(isUnreachableArchiveStore(s3Error(403, 'AccessDenied')), true);
  assert.equal(isUnreachableArchiveStore(s3Error(404, 'NoSuchBucket')), true);
  assert.equal(isUnreachableArchiveStore(s3Error(400, 'ExpiredToken')), true);
  assert.equal(isUnreachableArchiveStore(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), true);
  assert.equal(isUnreachableArchiveStore(new Error('parquet: could not encode column amount_minor')), false);
  // The search index keeps its rule: a 4xx that is not a write block is the record's.
  assert.equal(isUnreachableReadSide(s3Error(403, 'AccessDenied')), false);
});
