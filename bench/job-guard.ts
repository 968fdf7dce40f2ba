/**
 * Preloaded into the main job the benchmark starts (`node --import tsx --import
 * ./bench/job-guard.ts app/main.ts`): the job must not outlive the benchmark, even one that was
 * killed outright. When the benchmark's IPC channel closes, or the lifetime in
 * BENCH_JOB_LIFETIME_MS has passed, the job gets SIGTERM (its own orderly stop), and exits for
 * sure 30 s later.
 */
const HARD_STOP_MS = 30_000;

/** `why` is written only while the benchmark reads the output: a write to a closed pipe fails. */
function stop(why: string | undefined): void {
  if (why !== undefined) process.stderr.write(`bench job guard: ${why}; stopping the main job\n`);
  setTimeout(() => process.exit(3), HARD_STOP_MS).unref();
  process.kill(process.pid, 'SIGTERM');
}

const lifetimeMs = Number(process.env.BENCH_JOB_LIFETIME_MS);
if (Number.isSafeInteger(lifetimeMs) && lifetimeMs > 0)
  setTimeout(() => stop('its lifetime ran out'), lifetimeMs).unref();

if (process.channel !== undefined) {
  process.once('disconnect', () => stop(undefined));
  process.channel.unref();
}
