/**
 * Sub-topologies, after Kafka Streams: processors joined by in-task topics (TopicSpec.inTask) run
 * in one task per partition, records passing between them in memory inside one transaction; a
 * Kafka topic separates sub-topologies only where the key changes. Each sub-topology is one
 * consumer group (`<applicationId>-<name>`) reading its source topics, with one task per
 * partition holding every processor's stores.
 *
 * `describe()` prints the result: sub-topologies, their sources, processors (with the in-task
 * edges between them), sinks and stores.
 */
import type { Processor, Topology } from './api.js';
import { changelogTopic } from '../../topics/names.js';

export interface SubTopologyStore {
  readonly processor: string;
  readonly store: string;
  readonly changelogTopic: string;
}

export interface SubTopology {
  /** Names its consumer group `<applicationId>-<name>` and its tasks' transactional ids. */
  readonly name: string;
  /** In the topology's order. */
  readonly processors: readonly Processor[];
  /** Kafka topics the sub-topology reads (co-partitioned). */
  readonly sources: readonly string[];
  /** Kafka topics it writes (the dead-letter topic aside). */
  readonly sinks: readonly string[];
  /** In-task topics between its processors. */
  readonly edges: readonly string[];
  readonly stores: readonly SubTopologyStore[];
  /** Compacted topics its processors read as global tables. */
  readonly globalTables: readonly string[];
  readonly partitions: number;
}

const isInTask = (topology: Topology, topic: string): boolean =>
  topology.topics.find((t) => t.name === topic)?.inTask === true;

/**
 * The sub-topologies of a topology, in the order of their first processor. Problems (an in-task
 * topic read by two processors or by none, sources with different partition counts) are
 * returned in `problems` for validateTopology to report.
 */
export function analyseTopology(topology: Topology): {
  readonly subTopologies: readonly SubTopology[];
  readonly problems: readonly string[];
} {
  const problems: string[] = [];
  const processors = topology.processors;
  const index = new Map(processors.map((p, i) => [p.name, i]));
  const parent = processors.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const union = (a: number, b: number) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  for (const topic of topology.topics.filter((t) => t.inTask === true)) {
    const readers = processors.filter((p) => p.inputs.includes(topic.name));
    const writers = processors.filter((p) => p.outputs.includes(topic.name));
    if (readers.length !== 1)
      problems.push(
        `in-task topic ${topic.name} must have exactly one reader, has ${readers.length === 0 ? 'none' : readers.map((p) => p.name).join(', ')}`,
      );
    if (writers.length === 0) problems.push(`in-task topic ${topic.name} has no writer`);
    if (processors.some((p) => (p.globalTables ?? []).includes(topic.name)))
      problems.push(`in-task topic ${topic.name} can't be a global table`);
    for (const reader of readers)
      for (const writer of writers) union(index.get(reader.name)!, index.get(writer.name)!);
  }
  const groups = new Map<number, Processor[]>();
  processors.forEach((processor, i) => {
    const root = find(i);
    const group = groups.get(root);
    if (group === undefined) groups.set(root, [processor]);
    else group.push(processor);
  });
  const names = topology.subTopologyNames ?? {};
  const subTopologies: SubTopology[] = [];
  const usedNames = new Set<string>();
  for (const members of groups.values()) {
    const named = [...new Set(members.flatMap((p) => (names[p.name] === undefined ? [] : [names[p.name]!])))];
    if (named.length > 1)
      problems.push(
        `processors ${members.map((p) => p.name).join(', ')} are one sub-topology named ${named.join(' and ')}`,
      );
    const name = named[0] ?? members[0]!.name;
    if (usedNames.has(name)) problems.push(`sub-topology name ${name} is used twice`);
    usedNames.add(name);
    const unique = (topics: readonly string[]) => [...new Set(topics)];
    const sources = unique(members.flatMap((p) => p.inputs.filter((t) => !isInTask(topology, t))));
    const edges = unique(members.flatMap((p) => p.inputs.filter((t) => isInTask(topology, t))));
    const sinks = unique(members.flatMap((p) => p.outputs.filter((t) => !isInTask(topology, t))));
    const partitions = new Set(
      sources.map((t) => topology.topics.find((spec) => spec.name === t)?.partitions),
    );
    if (partitions.size > 1)
      problems.push(
        `sub-topology ${name} reads topics with different partition counts; they must be co-partitioned`,
      );
    if (sources.length === 0) problems.push(`sub-topology ${name} reads no Kafka topic`);
    subTopologies.push({
      name,
      processors: members,
      sources,
      sinks,
      edges,
      stores: members.flatMap((p) =>
        p.stores.map((store) => ({
          processor: p.name,
          store: store.name,
          changelogTopic: changelogTopic(topology.applicationId, p.name, store.name),
        })),
      ),
      globalTables: unique(members.flatMap((p) => p.globalTables ?? [])),
      partitions: [...partitions][0] ?? 1,
    });
  }
  return { subTopologies, problems };
}

export function subTopologiesOf(topology: Topology): readonly SubTopology[] {
  return analyseTopology(topology).subTopologies;
}

/**
 * The topology as text, one block per sub-topology: its consumer group, the Kafka topics it
 * reads, each processor with what it reads and writes (`~>` an in-task edge, `->` a Kafka topic),
 * and the stores with their changelogs. Deterministic: the README's diagram is this output.
 */
export function describeTopology(topology: Topology): string {
  const lines: string[] = [`Topology ${topology.applicationId}`];
  subTopologiesOf(topology).forEach((sub, i) => {
    lines.push(
      `  Sub-topology ${i}: ${sub.name} (consumer group ${topology.applicationId}-${sub.name}, ${sub.partitions} tasks)`,
    );
    lines.push(`    Sources: ${sub.sources.join(', ')}`);
    for (const processor of sub.processors) {
      const reads = processor.inputs.map((t) => (isInTask(topology, t) ? `~${t}` : t));
      lines.push(`    Processor: ${processor.name}`);
      lines.push(`      reads   ${reads.join(', ')}`);
      for (const topic of processor.outputs)
        lines.push(`      ${isInTask(topology, topic) ? '~>' : '->'} ${topic}`);
      if ((processor.globalTables ?? []).length > 0)
        lines.push(`      tables  ${(processor.globalTables ?? []).join(', ')}`);
      for (const store of processor.stores)
        lines.push(
          `      store   ${store.name} (${store.kind}) -> ${changelogTopic(topology.applicationId, processor.name, store.name)}`,
        );
    }
    lines.push(`    Sinks: ${sub.sinks.join(', ')}`);
  });
  lines.push(`  Dead letters: ${topology.deadLetterTopic}`);
  return lines.join('\n');
}
