// Ctrl-C once: a running command stops issuing load, judges what happened and writes a report
// marked interrupted. Ctrl-C twice: exit now (child services are still stopped by shutdown.ts).
// A handler usually raises a StopFlag, which is how the request reaches worker threads.
const handlers = new Set<() => void>();

export function onInterrupt(handler: () => void): () => void {
  handlers.add(handler);
  return () => handlers.delete(handler);
}

/** Runs the registered handlers; false when nobody was listening (the caller should exit). */
export function interruptAll(): boolean {
  if (handlers.size === 0) return false;
  for (const h of [...handlers]) h();
  handlers.clear();
  return true;
}

/** A stop request the main thread can raise and every worker thread can see. */
export class StopFlag {
  readonly buffer = new SharedArrayBuffer(4);
  private readonly view = new Int32Array(this.buffer);
  raise(): void {
    Atomics.store(this.view, 0, 1);
  }
  get raised(): boolean {
    return Atomics.load(this.view, 0) !== 0;
  }
}
