/**
 * `npm run topology`: prints the payment pipeline's topology as the runtime sees it
 * (sub-topologies, their processors, topics and stores: processors/runtime/topology.ts);
 * `npm run topology -- --write` puts that text into the README between its markers.
 * `app/topology-docs.test.ts` fails when the README's diagram differs from it.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { paymentPipeline } from '../processors/pipeline.js';
import { describeTopology } from '../processors/runtime/topology.js';
import { plainAvroSerde } from '../schemas/avro.js';

export const TOPOLOGY_DOCS_BEGIN = '<!-- topology:begin (npm run topology -- --write) -->';
export const TOPOLOGY_DOCS_END = '<!-- topology:end -->';

const README = new URL('../README.md', import.meta.url);

/** The pipeline's topology as `describe()` prints it, with the default partitions. */
export function pipelineTopologyText(): string {
  return describeTopology(paymentPipeline({ serdeOf: (topic) => plainAvroSerde(topic.value.contract) }));
}

/** The README with its topology block replaced by `text`. */
export function withTopology(readme: string, text: string): string {
  const begin = readme.indexOf(TOPOLOGY_DOCS_BEGIN);
  const end = readme.indexOf(TOPOLOGY_DOCS_END);
  if (begin < 0 || end < begin)
    throw new Error(`README.md has no "${TOPOLOGY_DOCS_BEGIN}" ... "${TOPOLOGY_DOCS_END}" block`);
  return `${readme.slice(0, begin + TOPOLOGY_DOCS_BEGIN.length)}\n\n\`\`\`text\n${text}\n\`\`\`\n\n${readme.slice(end)}`;
}

if (process.argv[1]?.endsWith('topology-docs.ts')) {
  const text = pipelineTopologyText();
  if (process.argv.includes('--write')) {
    writeFileSync(README, withTopology(readFileSync(README, 'utf8'), text));
    console.log('README.md: topology written');
  } else {
    console.log(text);
  }
}
