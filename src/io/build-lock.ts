/**
 * One builder per cache entry. The ranks of one launch (or two jobs) that miss the same
 * image-folder cache entry at once would each decode the whole folder; instead the first takes
 * `<entry>.lock` (created exclusively, O_EXCL) and builds, and the others wait for the entry,
 * reporting the builder's progress as their own.
 *
 * The lock holds the builder's pid, host, a random id and its progress (rewritten at most once
 * a second through a rename, which also refreshes its mtime). A waiter takes it over when it is
 * stale: its holder is gone (same host, pid not alive, or this process's pid but not a lock
 * this process holds: a restarted container), or it has not been refreshed for `staleMs` (a
 * holder on another host sharing the folder, or a reused pid). Taking over renames the lock
 * aside first and checks it was the one judged stale, so two waiters cannot both take it. When
 * a live holder lets go without an entry (its build failed), the waiters build at once, each on
 * its own, rather than one after another. A lock taken over from a holder in fact alive only
 * costs a second decode: each builder writes its own temporary file and renames it.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { processAlive } from "./process.js";
import { tempPath } from "./temp.js";

export interface Holder {
  pid: number;
  host: string;
  /** Random, per lock: tells a lock this process holds from one an earlier process with the same pid left. */
  id: string;
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
  /** A lock not refreshed for this long is stale, ms (default 10 minutes). */
  staleMs?: number;
  /** Stops waiting: the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The ids of the locks this process holds now. */
const held = new Set<string>();

/** The holder recorded in the lock at `path`, or null when it is gone or unreadable. */
export function readHolder(path: string): Holder | null {
  try {
    const h = JSON.parse(readFileSync(path, "utf-8")) as Partial<Holder>;
    if (typeof h.pid !== "number" || typeof h.host !== "string") return null;
    return { pid: h.pid, host: h.host, id: String(h.id ?? ""), since: String(h.since ?? ""), done: Number(h.done) || 0, total: Number(h.total) || 0 };
  } catch {
    return null;
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

const randomId = () => Math.random().toString(36).slice(2, 12);

function isStale(holder: Holder | null, age: number, staleMs: number): boolean {
  if (age > staleMs) return true;
  if (holder === null) return age > 5000; // empty or garbled for longer than a write takes
  if (holder.host !== hostname()) return false; // another host's: only its age tells
  if (holder.pid === process.pid) return !held.has(holder.id); // ours only if we hold it
  return !processAlive(holder.pid);
}

/**
 * Takes over a stale lock: moves it aside, and puts it back if what was moved is not the
 * lock judged stale (another waiter replaced it meanwhile).
 */
function takeOver(path: string, judged: Holder | null): void {
  const aside = tempPath(path);
  try {
    renameSync(path, aside);
  } catch {
    return; // gone already
  }
  const moved = readHolder(aside);
  const same = moved === null ? judged === null : judged !== null && moved.id === judged.id && moved.pid === judged.pid && moved.host === judged.host;
  if (!same) {
    try {
      linkSync(aside, path); // a fresh lock: back in place, unless a newer one is there
    } catch {
      // a newer lock is in place: its holder builds
    }
  }
  rmSync(aside, { force: true });
}

/**
 * Either `{ built }`, the entry another process finished while this one waited (`tryOpen`
 * found it), or `{ lock }`: this process builds the entry. The lock is held, except after
 * waiting on a holder that let go without an entry (its build failed): then every waiter
 * builds at once under a lock that holds nothing. Errors other than "the lock exists" (an
 * unwritable folder) are thrown, with no lock left behind.
 */
export async function lockOrWait<T>(path: string, tryOpen: () => T | null, options: LockOrWaitOptions = {}): Promise<{ built: T } | { lock: BuildLock }> {
  const pollMs = options.pollMs ?? 250;
  const staleMs = options.staleMs ?? 10 * 60 * 1000;
  let waitedOnLive = false;
  let reported = -1;
  for (;;) {
    options.signal?.throwIfAborted();
    const me: Holder = { pid: process.pid, host: hostname(), id: randomId(), since: new Date().toISOString(), done: 0, total: 0 };
    let fd: number | null = null;
    try {
      fd = openSync(path, "wx");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (fd !== null) {
      held.add(me.id);
      try {
        try {
          writeSync(fd, JSON.stringify(me));
        } finally {
          closeSync(fd);
        }
        const built = tryOpen(); // finished between the caller's look and the lock
        if (built !== null) {
          release(path, me);
          return { built };
        }
      } catch (e) {
        rmSync(path, { force: true }); // just made by us (perhaps empty): no waiter may wait on it
        held.delete(me.id);
        throw e;
      }
      return { lock: heldLock(path, me) };
    }
    const built = tryOpen();
    if (built !== null) return { built };
    const holder = readHolder(path);
    const age = ageMs(path);
    if (age === null) {
      // released without an entry: the build failed; after waiting on it, do not queue up behind the next waiter
      if (waitedOnLive) return { lock: { progress: () => undefined, release: () => undefined } };
      continue;
    }
    if (isStale(holder, age, staleMs)) {
      takeOver(path, holder);
      continue;
    }
    waitedOnLive = true;
    if (holder !== null && holder.total > 0 && holder.done > reported) {
      reported = holder.done;
      options.onWaitProgress?.(holder.done, holder.total);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function mine(path: string, me: Holder): boolean {
  const h = readHolder(path);
  return h !== null && h.id === me.id && h.pid === me.pid && h.host === me.host;
}

function release(path: string, me: Holder): void {
  try {
    if (mine(path, me)) rmSync(path, { force: true });
  } finally {
    held.delete(me.id);
  }
}

function heldLock(path: string, me: Holder): BuildLock {
  let last = 0;
  return {
    progress(done, total) {
      const now = Date.now();
      if (now - last < 1000 && done < total) return;
      last = now;
      const tmp = tempPath(path);
      try {
        if (!mine(path, me)) return; // taken over: the new holder reports
        writeFileSync(tmp, JSON.stringify({ ...me, done, total }));
        renameSync(tmp, path); // whole or not at all, for waiters reading it
      } catch {
        rmSync(tmp, { force: true }); // progress is for waiters only: a failed write changes nothing
      }
    },
    release: () => release(path, me),
  };
}
