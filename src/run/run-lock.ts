/**
 * One writer per run directory: `DIR/.lock`, created exclusively (O_EXCL), holds the pid,
 * host and start time of the process writing the run. A second pretrain or resume on the same
 * directory fails with a RunLockedError naming the holder. A lock left by a process that died
 * (same host, pid gone) is stale and taken over; a lock from another host cannot be checked
 * and is refused with the host named. Released (deleted) when the holder finishes.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { RunLockedError } from "../errors.js";
import { readHolder } from "../io/build-lock.js";
import { processAlive } from "../io/process.js";

export interface RunLock {
  path: string;
  release(): void;
}

interface Holder {
  pid: number;
  host: string;
  since: string;
}

/** The lock's holder, read as the image cache's build lock reads its own; null when gone or half-written (stale). */
function readRunHolder(path: string): Holder | null {
  const h = readHolder(path);
  return h === null ? null : { pid: h.pid, host: h.host, since: h.since };
}

/** Takes `runDir`'s lock (creating the folder), or throws RunLockedError. `onStale` hears of a takeover. */
export function acquireRunLock(runDir: string, onStale?: (holder: Holder) => void): RunLock {
  mkdirSync(runDir, { recursive: true });
  const path = join(runDir, ".lock");
  const me: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx");
      try {
        writeSync(fd, `${JSON.stringify(me)}\n`);
      } finally {
        closeSync(fd);
      }
      return {
        path,
        release: () => {
          const h = readRunHolder(path);
          if (h !== null && h.pid === me.pid && h.host === me.host) rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const holder = readRunHolder(path);
    if (holder !== null && holder.host !== me.host) {
      throw new RunLockedError(
        runDir,
        holder,
        `${runDir} is locked by pid ${holder.pid} on host ${holder.host} since ${holder.since} (${path}); if that process is gone, delete the lock`,
      );
    }
    if (holder !== null && processAlive(holder.pid) && holder.pid !== process.pid) {
      throw new RunLockedError(
        runDir,
        holder,
        `${runDir} is in use by pid ${holder.pid} on this host since ${holder.since} (${path}): wait for it to finish, or stop it`,
      );
    }
    if (holder !== null && holder.pid === process.pid) {
      throw new RunLockedError(runDir, holder, `${runDir} is already in use by this process (${path})`);
    }
    // stale: its writer is gone
    if (holder !== null) onStale?.(holder);
    rmSync(path, { force: true });
  }
  throw new RunLockedError(runDir, { pid: -1, host: "", since: "" }, `${runDir}: could not take ${path} (another process keeps taking it)`);
}
