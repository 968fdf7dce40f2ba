/**
 * What a program opened, closed in one place: each resource is registered as it opens, and
 * `close()` closes them newest first (a consumer before the producer it writes with, the
 * pipeline before the pool its read models use), each bounded, every one attempted even when an
 * earlier one fails. A start-up that fails halfway closes what it had opened the same way.
 */
export interface LifecycleLog {
  warn(detail: Record<string, unknown>, message: string): void;
}

interface Resource {
  readonly name: string;
  readonly close: () => Promise<void> | void;
  readonly timeoutMs: number;
}

/** Bound on closing one resource; a stuck one is given up so the rest still close. */
const DEFAULT_CLOSE_TIMEOUT_MS = 60_000;

export class Lifecycle {
  readonly #resources: Resource[] = [];
  readonly #log: LifecycleLog | undefined;
  readonly #closeTimeoutMs: number;
  #closing: Promise<void> | undefined;

  constructor(options: { readonly log?: LifecycleLog; readonly closeTimeoutMs?: number } = {}) {
    this.#log = options.log;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  }

  /** Registers `close` to run when the lifecycle closes; returns `resource` for chaining. */
  own<T>(
    name: string,
    resource: T,
    close: (resource: T) => unknown,
    options: { readonly closeTimeoutMs?: number } = {},
  ): T {
    if (this.#closing !== undefined) throw new Error(`${name} opened after the program began to close`);
    this.#resources.push({
      name,
      close: async () => void (await close(resource)),
      timeoutMs: options.closeTimeoutMs ?? this.#closeTimeoutMs,
    });
    return resource;
  }

  /** The names of the open resources, oldest first. */
  get open(): readonly string[] {
    return this.#resources.map((resource) => resource.name);
  }

  /** Closes everything, newest first; the same promise for every caller. Rejects with the first failure. */
  close(): Promise<void> {
    this.#closing ??= this.#closeAll();
    return this.#closing;
  }

  async #closeAll(): Promise<void> {
    let firstFailure: Error | undefined;
    for (const resource of [...this.#resources].reverse()) {
      try {
        await this.#bounded(resource);
      } catch (error) {
        firstFailure ??= error instanceof Error ? error : new Error(String(error));
        this.#log?.warn(
          { resource: resource.name, error: error instanceof Error ? error.message : String(error) },
          'closing a resource failed',
        );
      }
    }
    if (firstFailure !== undefined) throw firstFailure;
  }

  async #bounded(resource: Resource): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${resource.name} did not close within ${resource.timeoutMs} ms`)),
        resource.timeoutMs,
      );
    });
    try {
      await Promise.race([Promise.resolve().then(resource.close), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
