/**
 * One writer per run directory (and per ablation study folder): `DIR/.lock`, an exclusive
 * writer lock (io/writer-lock.ts). A second pretrain or resume on the same directory fails
 * with a RunLockedError naming the holder; a lock whose holder died is taken over.
 */
import { join } from "node:path";
import { RunLockedError } from "../errors.js";
import { acquireWriterLock, type LockHolder, type WriterLock } from "../io/writer-lock.js";

export type RunLock = WriterLock;

/** Takes `runDir`'s lock (creating the folder), or throws RunLockedError. `onStale` hears of a takeover. */
export function acquireRunLock(runDir: string, onStale?: (holder: LockHolder) => void): RunLock {
  return acquireWriterLock(join(runDir, ".lock"), runDir, {
    ...(onStale === undefined ? {} : { onStale }),
    locked: (holder, message) => new RunLockedError(runDir, holder, message),
  });
}
