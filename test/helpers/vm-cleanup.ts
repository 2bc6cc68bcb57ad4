/**
 * Last-resort cleanup for what the guest helpers start: each task runs on normal
 * exit and on SIGINT, SIGTERM and SIGHUP, so no qemu outlives a test run that
 * was interrupted. Tasks must be synchronous: 'exit' handlers cannot await.
 */
const tasks = new Map<number, () => void>();
let nextId = 0;
let installed = false;

/** Registers `task`; the returned function unregisters it (after a clean stop). */
export function onProcessExit(task: () => void): () => void {
  install();
  const id = nextId++;
  tasks.set(id, task);
  return () => void tasks.delete(id);
}

function runAll(): void {
  for (const task of tasks.values()) {
    try {
      task();
    } catch {
      // One failed cleanup must not stop the others.
    }
  }
  tasks.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      runAll();
      process.removeListener(signal, handler);
      // Re-raise for the default action, unless someone else (vitest) handles the signal.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}
