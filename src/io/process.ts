/** Processes: whether one is alive (locks and temporaries record their writer's pid), and a watch on this one's parent. */

/** Whether process `pid` exists on this host (EPERM: it does, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Calls `onGone` once when this process's parent exits (this process is then re-parented, so
 * its ppid changes), checking every `everyMs`. Workers use it so that a launcher killed with
 * SIGKILL, which can forward nothing, still takes them with it: Linux's PR_SET_PDEATHSIG does
 * the same, but Node cannot call prctl, and a check between steps lets the worker stop
 * cleanly (checkpoint, lock released) rather than die mid-write. The timer does not keep the
 * process alive. `expected`: the parent's pid as the launcher said it (SIMCLR_LAUNCHER_PID), so a
 * parent gone before the watch began is noticed at once. Returns the function that stops watching.
 */
export function watchParent(onGone: (parentPid: number) => void, expected?: number, everyMs = 500): () => void {
  const parent = expected ?? process.ppid;
  if (process.ppid !== parent) {
    // gone before the watch began (the worker was already re-parented)
    const soon = setImmediate(() => onGone(parent));
    return () => clearImmediate(soon);
  }
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onGone(parent);
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
