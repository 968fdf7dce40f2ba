/**
 * What a run created or started, removed when its path is done or the run fails: processes (a
 * chain process, the main job) and consumers are stopped first, then the run's consumer groups
 * and topics are deleted.
 */
import type { Admin } from 'kafkajs';

import { withTimeout } from './limits.js';

export interface Stoppable {
  stop(): Promise<void>;
}

export class Leftovers {
  readonly topics = new Set<string>();
  readonly groups = new Set<string>();
  /** What to stop, and how to name it in a problem report. */
  readonly processes = new Map<Stoppable, string>();

  async remove(admin: Admin): Promise<string[]> {
    const problems: string[] = [];
    for (const [process, name] of this.processes) {
      await process.stop().catch((error: unknown) => problems.push(`stopping ${name}: ${String(error)}`));
    }
    this.processes.clear();
    if (this.groups.size > 0) {
      await withTimeout(admin.deleteGroups([...this.groups]), 15_000, 'deleting consumer groups').catch(
        (error: unknown) => {
          const failed = groupFailures(error);
          if (failed.length > 0) problems.push(`deleting consumer groups: ${failed.join('; ')}`);
        },
      );
      this.groups.clear();
    }
    if (this.topics.size > 0) {
      await withTimeout(
        admin.deleteTopics({ topics: [...this.topics], timeout: 15_000 }),
        20_000,
        'deleting topics',
      ).catch((error: unknown) =>
        problems.push(`deleting topics ${[...this.topics].join(', ')}: ${String(error)}`),
      );
      this.topics.clear();
    }
    return problems;
  }
}

/**
 * Which groups could not be deleted and why. A group that never committed an offset does not
 * exist on the broker (GROUP_ID_NOT_FOUND): nothing was left, so it is not a problem.
 */
function groupFailures(error: unknown): string[] {
  const groups = (error as { groups?: unknown }).groups;
  if (!Array.isArray(groups)) return [String(error)];
  return (groups as { groupId: string; error?: { type?: string; message?: string } }[])
    .filter((group) => group.error?.type !== 'GROUP_ID_NOT_FOUND')
    .map((group) => `${group.groupId} (${group.error?.type ?? group.error?.message ?? 'unknown error'})`);
}
