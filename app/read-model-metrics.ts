/**
 * The read models' metrics, one set shared by every projection of the process (PostgreSQL,
 * Elasticsearch, the archive), labelled by read model: records applied, failed write attempts,
 * dead letters and lag per partition.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** The read models' metrics, shared by every projection (labelled by read model). */
export type ReadModelMetrics = ReturnType<typeof readModelMetrics>;

export function readModelMetrics(registry: Registry) {
  const get = <M>(name: string, make: () => M): M =>
    (registry.getSingleMetric(name) as M | undefined) ?? make();
  return {
    applied: get(
      'payflow_read_model_records_applied_total',
      () =>
        new Counter({
          name: 'payflow_read_model_records_applied_total',
          help: 'Records applied to a read model',
          labelNames: ['read_model', 'topic'],
          registers: [registry],
        }),
    ),
    errors: get(
      'payflow_read_model_sink_errors_total',
      () =>
        new Counter({
          name: 'payflow_read_model_sink_errors_total',
          help: 'Failed attempts to write a batch to a read model (each is retried)',
          labelNames: ['read_model'],
          registers: [registry],
        }),
    ),
    deadLetters: get(
      'payflow_read_model_dead_letters_total',
      () =>
        new Counter({
          name: 'payflow_read_model_dead_letters_total',
          help: 'Records a read model could not apply, copied to the dead-letter topic',
          labelNames: ['read_model', 'topic'],
          registers: [registry],
        }),
    ),
    lag: get(
      'payflow_read_model_lag_records',
      () =>
        new Gauge({
          name: 'payflow_read_model_lag_records',
          help: 'Records behind the end of the partition after the last applied batch',
          labelNames: ['read_model', 'topic', 'partition'],
          registers: [registry],
        }),
    ),
  };
}
