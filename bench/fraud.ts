/**
 * `BENCH_ONLY=fraud npm run bench`: fraud scoring alone, in process, no servers. Scores
 * `BENCH_FRAUD_PAYMENTS` synthetic payments (the training generator's mix of legitimate traffic
 * and fraud patterns, another seed) with the default rules, model and thresholds, one call at a
 * time, and reports the latency of each call (p50, p99, max) and the throughput of the loop.
 */
import { DEFAULT_MODEL, DEFAULT_RULES, DEFAULT_THRESHOLDS, scorePayment } from '../processors/fraud/index.js';
import { generateDataset } from '../processors/fraud/synthetic.js';
import { alignedTable, markdownOf } from './report.js';

const WARMUP_PAYMENTS = 20_000;
const SEED = 424_242;

const HEADINGS = [
  'path',
  'payments',
  'payments/s',
  'p50 µs',
  'p99 µs',
  'p99.9 µs',
  'max µs',
  'held',
  'blocked',
];

export function measureFraudScoring(payments: number): { text: string; markdown: string; notes: string[] } {
  const rows = generateDataset(SEED, payments).map((row) => row.features);
  for (let i = 0; i < WARMUP_PAYMENTS; i++)
    scorePayment(rows[i % rows.length]!, DEFAULT_RULES, DEFAULT_MODEL, DEFAULT_THRESHOLDS);
  const micros = new Float64Array(rows.length);
  let held = 0;
  let blocked = 0;
  const startedAt = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i++) {
    const before = process.hrtime.bigint();
    const { decision } = scorePayment(rows[i]!, DEFAULT_RULES, DEFAULT_MODEL, DEFAULT_THRESHOLDS);
    micros[i] = Number(process.hrtime.bigint() - before) / 1_000;
    if (decision === 'HOLD') held++;
    else if (decision === 'BLOCK') blocked++;
  }
  const totalSeconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  micros.sort();
  const at = (q: number) => micros[Math.min(micros.length - 1, Math.floor(q * micros.length))]!;
  const us = (n: number) => n.toFixed(1);
  const cells = [
    'fraud scoring alone (scorePayment, in process)',
    rows.length.toLocaleString('en-US'),
    Math.round(rows.length / totalSeconds).toLocaleString('en-US'),
    us(at(0.5)),
    us(at(0.99)),
    us(at(0.999)),
    us(micros[micros.length - 1]!),
    held.toLocaleString('en-US'),
    blocked.toLocaleString('en-US'),
  ];
  const notes = [
    `fraud scoring: ${DEFAULT_RULES.rules.length} default rules, the checked-in model (${DEFAULT_MODEL.inputs.length} inputs); ` +
      `${WARMUP_PAYMENTS.toLocaleString('en-US')} warm-up calls; each call timed alone (process.hrtime), ` +
      `so the per-call figures include the cost of two timer reads; payments/s is the timed loop`,
  ];
  return { text: alignedTable(HEADINGS, [cells]), markdown: markdownOf(HEADINGS, [cells]), notes };
}
