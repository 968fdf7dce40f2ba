/**
 * Prometheus metrics of the stream runtime, per processor: records in and out, processing
 * latency, consumer lag, dead letters, retries, late records, transaction commit latency, state
 * store entries, restore time and partitions stopped by a program error. One instance per prom-client Registry; both drivers report
 * through it (the Kafka driver adds lag, commits and restores).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { RunnerEvent } from './kafka/eos-runner.js';
import type { DeadLetterCode } from './api.js';
import type { TaskFailedError, TaskObserver } from './task.js';

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Labels<L extends string> = readonly L[];

/** One metric object per registry and name, so several drivers in one process share them. */
function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: Labels<L>,
): Counter<L> {
  return (
    (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: Labels<L>,
): Gauge<L> {
  return (
    (registry.getSingleMetric(name) as Gauge<L> | undefined) ??
    new Gauge({ name, help, labelNames, registers: [registry] })
  );
}

function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: Labels<L>,
): Histogram<L> {
  return (
    (registry.getSingleMetric(name) as Histogram<L> | undefined) ??
    new Histogram({ name, help, labelNames, buckets: SECONDS, registers: [registry] })
  );
}

export class RuntimeMetrics implements TaskObserver {
  readonly recordsIn: Counter<'processor' | 'topic'>;
  readonly recordsOut: Counter<'processor' | 'topic'>;
  readonly processing: Histogram<'processor'>;
  readonly lag: Gauge<'processor' | 'topic' | 'partition'>;
  readonly deadLetters: Counter<'processor' | 'code'>;
  readonly taskFailures: Counter<'processor' | 'partition'>;
  readonly retries: Counter<'processor'>;
  readonly late: Counter<'processor' | 'store'>;
  readonly punctuationFailures: Counter<'processor'>;
  readonly commit: Histogram<'processor'>;
  readonly entries: Gauge<'processor' | 'partition'>;
  readonly restore: Histogram<'processor'>;
  readonly diskBytes: Gauge<'processor' | 'partition'>;

  constructor(registry: Registry) {
    const p = 'payflow_processor_';
    this.recordsIn = counter(registry, `${p}records_in_total`, 'Input records processed', [
      'processor',
      'topic',
    ]);
    this.recordsOut = counter(registry, `${p}records_out_total`, 'Records forwarded to output topics', [
      'processor',
      'topic',
    ]);
    this.processing = histogram(
      registry,
      `${p}processing_seconds`,
      'Time to decode, process and encode one record',
      ['processor'],
    );
    this.lag = gauge(
      registry,
      `${p}consumer_lag`,
      'Records behind the partition end at the last fetched batch',
      ['processor', 'topic', 'partition'],
    );
    this.deadLetters = counter(
      registry,
      `${p}dead_letters_total`,
      'Records sent to the dead-letter topic, by payflow-dlq-error-code',
      ['processor', 'code'],
    );
    this.taskFailures = counter(
      registry,
      `${p}task_failures_total`,
      'Partitions stopped by a program error or a broken invariant (nothing committed, nothing dead-lettered)',
      ['processor', 'partition'],
    );
    this.retries = counter(
      registry,
      `${p}retries_total`,
      'Retries of records that failed with a retriable error',
      ['processor'],
    );
    this.late = counter(
      registry,
      `${p}late_records_dropped_total`,
      'Records that arrived after their windows closed',
      ['processor', 'store'],
    );
    this.punctuationFailures = counter(
      registry,
      `${p}punctuation_failures_total`,
      'Punctuations that hit an infrastructure failure (their writes were undone)',
      ['processor'],
    );
    this.commit = histogram(
      registry,
      `${p}transaction_commit_seconds`,
      'Kafka transaction: send outputs, changelog and offsets, commit',
      ['processor'],
    );
    this.entries = gauge(
      registry,
      `${p}state_store_entries`,
      'Entries over the state stores of a partition',
      ['processor', 'partition'],
    );
    this.restore = histogram(
      registry,
      `${p}restore_seconds`,
      'Time to fence and restore a partition from its changelogs',
      ['processor'],
    );
    this.diskBytes = gauge(
      registry,
      `${p}state_store_disk_bytes`,
      'Bytes the disk-backed state stores of a partition take (0 for in-memory stores)',
      ['processor', 'partition'],
    );
  }

  recordProcessed(processor: string, topic: string, latencyMs: number): void {
    this.recordsIn.inc({ processor, topic });
    this.processing.observe({ processor }, latencyMs / 1000);
  }

  recordForwarded(processor: string, topic: string): void {
    this.recordsOut.inc({ processor, topic });
  }

  deadLettered(processor: string, code: DeadLetterCode): void {
    this.deadLetters.inc({ processor, code });
  }

  taskFailed(processor: string, error: TaskFailedError): void {
    this.taskFailures.inc({ processor, partition: String(error.partition) });
  }

  lateRecordDropped(processor: string, store: string): void {
    this.late.inc({ processor, store });
  }

  retried(processor: string): void {
    this.retries.inc({ processor });
  }

  punctuationFailed(processor: string): void {
    this.punctuationFailures.inc({ processor });
  }

  /** Kafka runner events of one processor. */
  runnerEvent(processor: string, event: RunnerEvent): void {
    switch (event.type) {
      case 'committed':
        this.commit.observe({ processor }, event.commitMs / 1000);
        this.entries.set({ processor, partition: String(event.partition) }, event.entries);
        this.diskBytes.set({ processor, partition: String(event.partition) }, event.diskBytes);
        break;
      case 'task-ready':
        this.restore.observe({ processor }, event.restoreMs / 1000);
        this.entries.set({ processor, partition: String(event.partition) }, event.restoredEntries);
        this.diskBytes.set({ processor, partition: String(event.partition) }, event.diskBytes);
        break;
      case 'task-dropped':
        this.entries.remove({ processor, partition: String(event.partition) });
        this.diskBytes.remove({ processor, partition: String(event.partition) });
        break;
      case 'lag':
        this.lag.set({ processor, topic: event.topic, partition: String(event.partition) }, event.lag);
        break;
      case 'punctuation-failed':
        this.punctuationFailures.inc({ processor });
        break;
    }
  }
}
