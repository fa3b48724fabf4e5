// Ctrl-C once: a running command stops issuing load, judges what happened and writes a report
// marked interrupted. Ctrl-C twice: exit now (child services are still stopped by shutdown.ts).
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
