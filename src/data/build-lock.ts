/**
 * One builder per cache entry. The ranks of one launch (or two jobs) that miss the same
 * image-folder cache entry at once would each decode the whole folder; instead the first takes
 * `<entry>.lock` (created exclusively, O_EXCL) and builds, and the others wait for the entry,
 * reporting the builder's progress as their own.
 *
 * The lock holds the builder's pid, host and progress (rewritten at most once a second, which
 * also refreshes its mtime). A waiter takes it over when it is stale: its holder is gone (same
 * host, pid not alive), or, for a holder on another host (a cache folder shared over the
 * network), when it has not been refreshed for `staleMs`. A lock removed without an entry (the
 * builder failed) lets the next waiter build. Taking over a lock whose holder is in fact alive
 * only costs a second decode: each builder writes its own temporary file and renames it.
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";

export interface Holder {
  pid: number;
  host: string;
  since: string;
  done: number;
  total: number;
}

export interface BuildLock {
  /** Records the build's progress in the lock (for waiters), at most once a second. */
  progress(done: number, total: number): void;
  /** Removes the lock if this process still holds it. */
  release(): void;
}

export interface LockOrWaitOptions {
  /** Hears the builder's progress while this process waits. */
  onWaitProgress?: (done: number, total: number) => void;
  /** How often to look for the entry while waiting, ms (default 250). */
  pollMs?: number;
  /** A lock from another host not refreshed for this long is stale, ms (default 10 minutes). */
  staleMs?: number;
}

/** Whether process `pid` exists on this host (EPERM: it does, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The holder recorded in the lock at `path`, or null when it is gone or being rewritten. */
export function readHolder(path: string): Holder | null {
  try {
    const h = JSON.parse(readFileSync(path, "utf-8")) as Partial<Holder>;
    if (typeof h.pid !== "number" || typeof h.host !== "string") return null;
    return { pid: h.pid, host: h.host, since: String(h.since ?? ""), done: Number(h.done) || 0, total: Number(h.total) || 0 };
  } catch {
    return null; // gone, or being rewritten
  }
}

/** Age of the file at `path` in ms, or null when it is gone. */
function ageMs(path: string): number | null {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * Either `{ built }`, the entry another process finished while this one waited (`tryOpen`
 * found it), or `{ lock }`: this process holds the lock and builds the entry (`tryOpen` found
 * nothing after the lock was taken). Errors other than "the lock exists" (an unwritable
 * folder) are thrown.
 */
export async function lockOrWait<T>(path: string, tryOpen: () => T | null, options: LockOrWaitOptions = {}): Promise<{ built: T } | { lock: BuildLock }> {
  const pollMs = options.pollMs ?? 250;
  const staleMs = options.staleMs ?? 10 * 60 * 1000;
  const me: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), done: 0, total: 0 };
  let reported = -1;
  for (;;) {
    try {
      const fd = openSync(path, "wx");
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      const built = tryOpen(); // finished between the caller's look and the lock
      if (built !== null) {
        rmSync(path, { force: true });
        return { built };
      }
      return { lock: heldLock(path, me) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const built = tryOpen();
    if (built !== null) return { built };
    const holder = readHolder(path);
    const age = ageMs(path);
    if (age === null) continue; // released meanwhile: try to take it
    const stale =
      holder === null
        ? age > 5000 // unreadable for longer than a rewrite takes
        : holder.host === me.host
          ? !processAlive(holder.pid)
          : age > staleMs;
    if (stale) {
      rmSync(path, { force: true });
      continue;
    }
    if (holder !== null && holder.total > 0 && holder.done !== reported) {
      reported = holder.done;
      options.onWaitProgress?.(holder.done, holder.total);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function heldLock(path: string, me: Holder): BuildLock {
  let last = 0;
  const mine = () => {
    const h = readHolder(path);
    return h !== null && h.pid === me.pid && h.host === me.host && h.since === me.since;
  };
  return {
    progress(done, total) {
      const now = Date.now();
      if (now - last < 1000 && done < total) return;
      last = now;
      try {
        if (mine()) writeFileSync(path, JSON.stringify({ ...me, done, total }));
      } catch {
        // progress for waiters only: a failed write changes nothing
      }
    },
    release() {
      if (mine()) rmSync(path, { force: true });
    },
  };
}
