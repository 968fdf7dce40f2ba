/**
 * `npm run topics:create`: creates the catalogue's topics on the Kafka cluster named by
 * PAYFLOW_KAFKA_BROKERS and prints a table of them. Safe to run again: existing topics are
 * checked, not touched. PAYFLOW_TOPIC_PARTITIONS sets the partition count (default 6). A bad
 * setting exits 2 naming the variable; a conflict with an existing topic exits 1.
 */
import { Kafka, logLevel } from 'kafkajs';

import { topicCatalogue, topicCreateSpecs } from '../topics/catalogue.js';
import { createTopics } from '../topics/create.js';
import { resultTable } from '../topics/table.js';
import { configOrExit, topicsConfig } from './config.js';

const config = configOrExit('topics:create', () => topicsConfig(process.env));
const catalogue = topicCatalogue({ partitions: config.partitions });
const kafka = new Kafka({
  clientId: 'payflow-topics',
  brokers: [...config.brokers],
  connectionTimeout: 5_000,
  requestTimeout: 30_000,
  retry: { retries: 3 },
  logLevel: logLevel.WARN,
});
const admin = kafka.admin();
try {
  await admin.connect();
  try {
    const results = await createTopics(admin, topicCreateSpecs(catalogue));
    console.log(resultTable(catalogue, results));
  } finally {
    await admin.disconnect();
  }
} catch (error) {
  console.error(`topics:create failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
