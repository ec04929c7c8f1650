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
    renameSync(tmp, path);
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
