/**
 * A kafkajs partition assigner that keeps co-partitioned topics together: partition N of every
 * subscribed topic goes to the same member, so a task that joins two topics keyed alike (e.g. a
 * ledger's debits and credits, both keyed by account) sees both sides of a key. kafkajs' default
 * round-robin assigner spreads topic-partitions independently and gives no such guarantee.
 *
 * Partition numbers are dealt round-robin over members sorted by id, so the outcome is the same
 * whichever member leads the group.
 */
import {
  AssignerProtocol,
  type Assigner,
  type GroupMember,
  type GroupMemberAssignment,
  type PartitionAssigner,
} from 'kafkajs';

export const COPARTITION_ASSIGNER_NAME = 'PayFlowCoPartitioned';
const VERSION = 0;

/** Pure core: member id -> topic -> partitions. Exported for tests. */
export function assignCoPartitioned(
  memberIds: readonly string[],
  partitionsPerTopic: ReadonlyMap<string, number>,
): Map<string, Record<string, number[]>> {
  const members = [...memberIds].sort();
  const result = new Map<string, Record<string, number[]>>(members.map((id) => [id, {}]));
  const maxPartitions = Math.max(0, ...partitionsPerTopic.values());
  for (let partition = 0; partition < maxPartitions; partition += 1) {
    const member = members[partition % members.length];
    if (member === undefined) break;
    const assignment = result.get(member)!;
    for (const [topic, count] of partitionsPerTopic) {
      if (partition < count) (assignment[topic] ??= []).push(partition);
    }
  }
  return result;
}

export const CoPartitionAssigner: PartitionAssigner = ({ cluster }): Assigner => ({
  name: COPARTITION_ASSIGNER_NAME,
  version: VERSION,
  assign({
    members,
    topics,
  }: {
    members: GroupMember[];
    topics: string[];
  }): Promise<GroupMemberAssignment[]> {
    const counts = new Map(topics.map((topic) => [topic, cluster.findTopicPartitionMetadata(topic).length]));
    const plan = assignCoPartitioned(
      members.map((m) => m.memberId),
      counts,
    );
    return Promise.resolve(
      [...plan].map(([memberId, assignment]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: VERSION,
          assignment,
          userData: Buffer.alloc(0),
        }),
      })),
    );
  },
  protocol({ topics }: { topics: string[] }) {
    return {
      name: COPARTITION_ASSIGNER_NAME,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: VERSION,
        topics,
        userData: Buffer.alloc(0),
      }),
    };
  },
});
