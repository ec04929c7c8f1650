/**
 * The one convention for temporary names: `<final path>.tmp-<pid>-<random>`, beside the file
 * or folder it will be renamed to. The pid says whose it is, so a later process can tell a
 * live writer's temporary from one a crashed writer left (`processAlive`), and the random
 * part keeps two writers of one process apart. `tempPath` makes such a name, `parseTempName`
 * recognises one; nothing else in the package writes or matches temporary names.
 */
import { processAlive } from "./process.js";

const TEMP = /^(.*)\.tmp-(\d+)-[0-9a-z]+$/;
/** Checkpoint folders from before this convention: `checkpoints/.tmp-<name>-<pid>`. */
const LEGACY_CHECKPOINT_TEMP = /^\.tmp-(.+)-(\d+)$/;

/** A fresh temporary name for `path`: `<path>.tmp-<pid>-<random>`. */
export function tempPath(path: string): string {
  return `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * The writer's pid and the final name if `name` (a file or folder name, not a path) is a
 * temporary one, else null.
 */
export function parseTempName(name: string): { pid: number; final: string } | null {
  const m = TEMP.exec(name) ?? LEGACY_CHECKPOINT_TEMP.exec(name);
  if (m === null) return null;
  const pid = Number(m[2]);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, final: m[1] as string } : null;
}

/**
 * Whether `name` is a temporary that no live writer on this host owns: its pid is gone. (Where
 * every writer of a folder holds one lock, as a run directory's do, the lock's holder treats
 * every temporary as abandoned: RunDir.removeStaleTemporaries.)
 */
export function isAbandonedTemp(name: string): boolean {
  const t = parseTempName(name);
  return t !== null && t.pid !== process.pid && !processAlive(t.pid);
}
