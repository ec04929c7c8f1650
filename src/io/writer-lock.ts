/**
 * One writer per thing: a lock file created exclusively (O_EXCL) holding the pid, host and
 * start time of the process writing it. Run directories (`DIR/.lock`), ablation studies and
 * search indexes (`INDEX.lock`) take one. A second writer fails with a LockedError naming the
 * holder. A lock left by a process that died (same host, pid gone) is stale and taken over; a
 * lock from another host cannot be checked and is refused with the host named. Released
 * (deleted) when the holder finishes.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { LockedError } from "../errors.js";
import { readHolder } from "./build-lock.js";
import { processAlive } from "./process.js";

export interface WriterLock {
  path: string;
  release(): void;
}

export interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

export interface WriterLockOptions {
  /** Hears of a takeover from a holder that is gone. */
  onStale?: (holder: LockHolder) => void;
  /** The error to throw (default LockedError): a RunLockedError for run directories. */
  locked?: (holder: LockHolder, message: string) => LockedError;
}

/** The lock's holder, as build-lock.ts reads its own; null when gone or half-written (stale). */
function readLockHolder(path: string): LockHolder | null {
  const h = readHolder(path);
  return h === null ? null : { pid: h.pid, host: h.host, since: h.since };
}

/**
 * Takes the lock file `lockPath` for writing `subject` (a path, named in errors), creating its
 * folder; throws a LockedError when another live process holds it.
 */
export function acquireWriterLock(lockPath: string, subject: string, options: WriterLockOptions = {}): WriterLock {
  const locked = options.locked ?? ((holder, message) => new LockedError(subject, holder, message));
  mkdirSync(dirname(lockPath), { recursive: true });
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, "wx");
      try {
        writeSync(fd, `${JSON.stringify(me)}\n`);
      } finally {
        closeSync(fd);
      }
      return {
        path: lockPath,
        release: () => {
          const h = readLockHolder(lockPath);
          if (h !== null && h.pid === me.pid && h.host === me.host) rmSync(lockPath, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const holder = readLockHolder(lockPath);
    if (holder !== null && holder.host !== me.host) {
      throw locked(
        holder,
        `${subject} is locked by pid ${holder.pid} on host ${holder.host} since ${holder.since} (${lockPath}); if that process is gone, delete the lock`,
      );
    }
    if (holder !== null && processAlive(holder.pid) && holder.pid !== process.pid) {
      throw locked(holder, `${subject} is in use by pid ${holder.pid} on this host since ${holder.since} (${lockPath}): wait for it to finish, or stop it`);
    }
    if (holder !== null && holder.pid === process.pid) throw locked(holder, `${subject} is already in use by this process (${lockPath})`);
    // stale: its writer is gone
    if (holder !== null) options.onStale?.(holder);
    rmSync(lockPath, { force: true });
  }
  throw locked({ pid: -1, host: "", since: "" }, `${subject}: could not take ${lockPath} (another process keeps taking it)`);
}
