import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Registry } from 'prom-client';

import { BadRecordError, HEADER, type Topology } from './api.js';
import { jsonSerde } from './json-serde.js';
import { MemoryDriver } from './memory/driver.js';
import { RuntimeMetrics } from './metrics.js';
import { buildOpsServer } from './ops-server.js';
import { ComponentHealth } from './supervision.js';

const topology: Topology = {
  applicationId: 'ops',
  topics: ['in', 'out'].map((name) => ({ name, partitions: 1, serde: jsonSerde<unknown>() })),
  deadLetterTopic: 'dlq',
  processors: [
    {
      name: 'echo',
      inputs: ['in'],
      outputs: ['out'],
      stores: [],
      process(record, context) {
        if (record.value === 'bad') throw new BadRecordError('UNAPPLICABLE', 'unreadable amount');
        context.forward({ topic: 'out', key: record.key, value: record.value });
      },
    },
  ],
};

describe('processor operations endpoints', () => {
  test('/metrics counts records in and out, dead letters by code and processing latency per processor', async () => {
    const registry = new Registry();
    const driver = new MemoryDriver(topology, { observer: new RuntimeMetrics(registry) });
    await driver.pipe('in', 'a', 1);
    await driver.pipe('in', 'b', 'bad');
    assert.equal(driver.records('dlq')[0]?.headers[HEADER.dlqProcessor], 'echo');
    const app = buildOpsServer({ registry, ready: () => true });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(text, /payflow_processor_records_in_total\{processor="echo",topic="in"\} 2/);
    assert.match(text, /payflow_processor_records_out_total\{processor="echo",topic="out"\} 1/);
    assert.match(text, /payflow_processor_dead_letters_total\{processor="echo",code="UNAPPLICABLE"\} 1/);
    assert.match(text, /payflow_processor_processing_seconds_count\{processor="echo"\} 2/);
    await app.close();
  });

  test('/readyz answers 503 problem+json until the processors are ready, then 200; /healthz always 200', async () => {
    let ready = false;
    const app = buildOpsServer({ registry: new Registry(), ready: () => ready });
    const before = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(before.statusCode, 503);
    assert.match(String(before.headers['content-type']), /^application\/problem\+json/);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    ready = true;
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    await app.close();
  });

  test('/readyz answers 503 naming each component that is not up and why, and 200 once all are up', async () => {
    const registry = new Registry();
    const health = new ComponentHealth({ registry });
    health.report('kafka', 'up');
    health.report('processor:ledger', 'down', 'KafkaJSNonRetriableError: Failed to find group coordinator');
    const app = buildOpsServer({
      registry,
      ready: () => health.notUp().length === 0,
      notReadyDetail: () => health.describeNotUp(),
    });
    const down = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(down.statusCode, 503);
    assert.match(down.json<{ detail: string }>().detail, /processor:ledger down \(KafkaJSNonRetriableError/);
    assert.match(await registry.metrics(), /payflow_component_up\{component="processor:ledger"\} 0/);
    health.report('processor:ledger', 'up');
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  });
});
