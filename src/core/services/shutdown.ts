// Child services (redis-server, embedded Postgres) must not outlive the CLI, whether it ends
// normally, on an error, or on Ctrl-C. Each registers a synchronous kill here.
const hooks = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const h of [...hooks]) {
    try {
      h();
    } catch {
      // best effort: the process is going away
    }
  }
  hooks.clear();
}

export function onShutdown(hook: () => void): () => void {
  if (!installed) {
    installed = true;
    process.once('exit', runAll);
  }
  hooks.add(hook);
  return () => hooks.delete(hook);
}
