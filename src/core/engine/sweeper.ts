// The background sweeper: runs a sweep every interval while the sale is on, so abandoned holds
// come back to stock during the burst (when buyers can still take them), not only at the end.

export interface SweepLoopOptions {
  intervalMs: number;
  sweep: (now: number) => Promise<unknown>;
}

/** What a loop's failed passes came to: reported with the run, never the end of it. */
export interface LoopFailures {
  failures: number;
  firstError?: string;
}

/**
 * Starts the loop; the returned function stops it, awaiting the sweep in progress so nobody tears
 * down connections under it. A failed sweep does not stop the loop (the next one covers the same
 * holds: a store down for a second is swept again once it is back), and it is not swallowed
 * either: stop() resolves to how many failed and the first reason, for the run's report.
 */
export function startSweepLoop({ intervalMs, sweep }: SweepLoopOptions): () => Promise<LoopFailures> {
  if (!(intervalMs > 0)) throw new RangeError(`sweepIntervalMs must be > 0, got ${intervalMs}`);
  let stopped = false;
  let failures = 0;
  let firstFailure: unknown;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const tick = () => {
    running = sweep(Date.now())
      .then(
        () => undefined,
        (err: unknown) => {
          failures++;
          firstFailure ??= err;
        },
      )
      .finally(() => {
        // Scheduled after the sweep, not on a fixed rate: a slow sweep never overlaps the next one.
        if (!stopped) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  // unref: a caller that forgets to stop the sweeper must not keep the process alive forever.
  timer = setTimeout(tick, intervalMs).unref();

  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
    if (failures === 0) return { failures };
    return { failures, firstError: firstFailure instanceof Error ? firstFailure.message : String(firstFailure) };
  };
}
