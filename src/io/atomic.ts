/**
 * Whole-or-nothing writes: a reader (or a process after a crash) sees the old file or the new
 * one, never half of either. The bytes go to a temporary beside the file (io/temp.ts), are
 * fsync'ed, and the temporary is renamed over the file.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { FileWriteError } from "../errors.js";
import { tempPath } from "./temp.js";

/** Writes `bytes` to `path` atomically; a failure is a FileWriteError naming `path`, with no temporary left. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = writeTemporary(path, bytes);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new FileWriteError(path, e);
  }
}

/**
 * Writes files that belong together (an array and its sidecar) so that neither is left without
 * the other: every temporary is written and fsync'ed first (a full disk or an unwritable path
 * fails here, before any file is touched), then each is renamed over its file. Should a rename
 * still fail, the files already renamed (and older versions of the rest) are removed,
 * so a reader finds a whole set or none of it.
 */
export function writeFilesAtomic(files: readonly { path: string; bytes: Uint8Array | string }[]): void {
  const temps: string[] = [];
  try {
    for (const f of files) temps.push(writeTemporary(f.path, f.bytes));
  } catch (e) {
    for (const t of temps) rmSync(t, { force: true });
    throw e;
  }
  const renamed: string[] = [];
  files.forEach((f, i) => {
    try {
      renameSync(temps[i] as string, f.path);
      renamed.push(f.path);
    } catch (e) {
      for (const t of temps.slice(i)) rmSync(t, { force: true });
      for (const p of renamed) rmSync(p, { force: true });
      // an older version of the files not renamed (this one's too) would describe the removed ones: it goes too
      for (const later of files.slice(i)) {
        try {
          rmSync(later.path, { force: true });
        } catch {
          // a folder, or not ours to remove
        }
      }
      throw new FileWriteError(f.path, e);
    }
  });
}

/** Writes and fsyncs a temporary beside `path`; returns its name. A failure removes it and is a FileWriteError naming `path`. */
function writeTemporary(path: string, bytes: Uint8Array | string): string {
  const tmp = tempPath(path);
  let fd: number;
  try {
    fd = openSync(tmp, "w");
  } catch (e) {
    throw new FileWriteError(path, e);
  }
  try {
    const data = typeof bytes === "string" ? Buffer.from(bytes, "utf-8") : bytes;
    for (let written = 0; written < data.byteLength;) written += writeSync(fd, data, written);
    fsyncSync(fd);
    closeSync(fd);
    return tmp;
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw new FileWriteError(path, e);
  }
}
