/**
 * The decoded-image cache of an image folder: the pixels at the training resolution in one
 * raw uint8 file, memory-mapped when read, so a data set larger than memory trains from the
 * page cache instead of from a tensor that must fit in RAM (issue 13; the choice against
 * decoding every epoch is measured in BENCHMARKS.md, "Image folders larger than memory").
 *
 * Two files per entry, named by the cache key:
 *   image-folder-<key>.u8    (N, C, size, size) uint8, C-contiguous, nothing else
 *   image-folder-<key>.json  what the pixels are: shape, classes, files, labels, skipped files
 * The pixels are written first (to a temporary name, then renamed), the index last (atomic
 * write), so an index names complete pixels; an entry without an index, or whose pixel file
 * has another size, is a miss and is built again. Images are written while they decode, so
 * building needs memory for the images in flight only, whatever the folder's size.
 *
 * Ownership: the images tensor of an opened entry owns its mapping (dispose() unmaps it). The
 * mapping is private: writing into the tensor copies the page and never reaches the file. A
 * file larger than half the memory the process may use is advised as randomly read (below).
 */
import { closeSync, ftruncateSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, utimesSync, writeSync } from "node:fs";
import { writeFileAtomic } from "../io/atomic.js";
import { tempPath } from "../io/temp.js";
import { adviseMapped, empty, mapFile, tensor } from "../tensor/factory.js";
import type { Tensor } from "../tensor/tensor.js";
import { FileWriteError } from "../errors.js";
import { availableMemory } from "../io/host-memory.js";

/** Bumped whenever the cached contents change meaning, so old entries are never read. */
export const CACHE_FORMAT = "simclr-image-folder/3"; // 3: pixels EXIF-oriented

/**
 * A cache file bigger than this fraction of the memory the process may use is advised as
 * randomly read (madvise MADV_RANDOM): it may not fit in the page cache. Batches are shuffled;
 * by default each page fault reads ~128 KiB around the page, and once the file does not fit,
 * most of that is evicted unread (an epoch 2.7x slower under a memory limit below the file's
 * size; BENCHMARKS.md). A file that fits keeps the default, whose fault-around maps 16 cached
 * pages a fault (warm reads 4-14x faster than with the advice).
 */
const RANDOM_ACCESS_ABOVE = 0.5;

/** What an entry's index file records. Paths are relative to the folder's root. */
export interface CacheIndex {
  format: string;
  size: number;
  channels: number;
  classes: string[];
  /** The images in tensor order. */
  files: string[];
  /** Class index per image, -1 for an unlabeled folder. */
  labels: number[];
  /** Files left out with skipBad, and why. */
  skipped: { file: string; reason: string }[];
  /** The folder's absolute path (for `simclr cache`; absent in entries written before it). */
  root?: string;
}

export interface CacheEntry {
  /** uint8 (N, C, size, size), mapped from the pixel file. */
  images: Tensor;
  /** int64 (N). */
  labels: Tensor;
  index: CacheIndex;
}

/** The two files of the entry with this key. */
export function cachePaths(cacheDir: string, key: string): { pixels: string; index: string } {
  const base = `${cacheDir}/image-folder-${key}`;
  return { pixels: `${base}.u8`, index: `${base}.json` };
}

/** Bytes of the pixel file an index describes: N x C x size x size. */
export function pixelBytes(index: CacheIndex): number {
  return index.files.length * index.channels * index.size * index.size;
}

/** The index at `path` (of any dimensions), or null when it is missing or not a valid index of this format. */
export function readIndex(path: string): CacheIndex | null {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, "utf-8"));
  } catch {
    return null; // missing (the usual case), half-written by another tool, or not JSON
  }
  const dims = (v ?? {}) as { size?: unknown; channels?: unknown };
  return Number.isInteger(dims.size) && Number.isInteger(dims.channels) && isIndex(v, dims.size as number, dims.channels as number) ? v : null;
}

function isIndex(v: unknown, size: number, channels: number): v is CacheIndex {
  if (v === null || typeof v !== "object") return false;
  const o = v as Record<string, unknown>;
  const strings = (a: unknown): a is string[] => Array.isArray(a) && a.every((s) => typeof s === "string");
  return (
    o.format === CACHE_FORMAT &&
    o.size === size &&
    o.channels === channels &&
    strings(o.classes) &&
    strings(o.files) &&
    Array.isArray(o.labels) &&
    o.labels.length === o.files.length &&
    o.labels.every((l) => Number.isInteger(l) && l >= -1 && l < (o.classes as string[]).length) &&
    Array.isArray(o.skipped) &&
    o.skipped.every((s) => s !== null && typeof s === "object" && typeof s.file === "string" && typeof s.reason === "string") &&
    (o.root === undefined || typeof o.root === "string")
  );
}

/**
 * The entry at `paths`, mapped, or null when there is none or it is not a complete entry of
 * these dimensions (the cache is only a shortcut: anything wrong means decoding again).
 */
export function openCache(paths: { pixels: string; index: string }, size: number, channels: number): CacheEntry | null {
  const index = readIndex(paths.index);
  if (index === null || index.size !== size || index.channels !== channels) return null;
  const n = index.files.length;
  const bytes = pixelBytes(index);
  try {
    if (statSync(paths.pixels).size !== bytes) return null;
  } catch {
    return null;
  }
  const shape = [n, channels, size, size];
  let images: Tensor;
  if (n === 0) {
    images = empty(shape, { dtype: "uint8" }); // (0, C, size, size)
  } else {
    let flat: Tensor;
    try {
      flat = mapFile(paths.pixels, bytes, "uint8"); // (N * C * size * size)
    } catch {
      return null; // replaced or removed since the stat
    }
    if (bytes > RANDOM_ACCESS_ABOVE * availableMemory()) adviseMapped(flat, "random");
    images = flat.view(shape); // (N, C, size, size), sharing the mapping
    flat.dispose();
  }
  try {
    const now = new Date();
    utimesSync(paths.index, now, now); // "last used", for `simclr cache clear --older-than`
  } catch {
    // a read-only cache folder: only the age shown by `simclr cache` is off
  }
  return { images, labels: tensor(BigInt64Array.from(index.labels, (l) => BigInt(l))), index };
}

/**
 * Writes an entry's pixels as they decode, image `slot` at byte slot * imageBytes of a
 * temporary file; finish() drops the slots of files that failed, renames the file into place
 * and writes the index. A write error is kept (failed) rather than thrown into the decoding
 * loop, where it would pass for a bad image.
 */
export class CacheWriter {
  readonly #paths: { pixels: string; index: string };
  readonly #tmp: string;
  readonly #imageBytes: number;
  #fd: number | null;
  #failed: Error | null = null;

  constructor(paths: { pixels: string; index: string }, imageBytes: number) {
    this.#paths = paths;
    this.#imageBytes = imageBytes;
    this.#tmp = tempPath(paths.pixels);
    try {
      this.#fd = openSync(this.#tmp, "w+");
    } catch (e) {
      throw new FileWriteError(this.#tmp, e);
    }
  }

  /** Stores one image (C, size, size bytes) in its slot. */
  write(slot: number, chw: Uint8Array): void {
    if (this.#failed !== null || this.#fd === null) return;
    try {
      const at = slot * this.#imageBytes;
      for (let done = 0; done < chw.byteLength;) done += writeSync(this.#fd, chw, done, chw.byteLength - done, at + done);
    } catch (e) {
      this.#failed = new FileWriteError(this.#tmp, e);
    }
  }

  /**
   * Moves the kept slots (ascending) down over the dropped ones, truncates, renames the pixels
   * into place, then writes the index. Throws FileWriteError (the temporary file removed).
   */
  finish(keptSlots: readonly number[], index: CacheIndex): void {
    if (this.#failed !== null) throw this.#failed;
    const fd = this.#fd as number;
    try {
      const bytes = this.#imageBytes;
      const buffer = Buffer.alloc(bytes);
      keptSlots.forEach((slot, j) => {
        if (slot === j) return;
        for (let got = 0; got < bytes;) got += readSync(fd, buffer, got, bytes - got, slot * bytes + got);
        for (let put = 0; put < bytes;) put += writeSync(fd, buffer, put, bytes - put, j * bytes + put);
      });
      ftruncateSync(fd, keptSlots.length * bytes);
      closeSync(fd);
      this.#fd = null;
      renameSync(this.#tmp, this.#paths.pixels);
    } catch (e) {
      this.abort();
      throw new FileWriteError(this.#paths.pixels, e);
    }
    writeFileAtomic(this.#paths.index, JSON.stringify(index));
  }

  /** Removes the temporary file (after an error, or when the images turn out bad). */
  abort(): void {
    if (this.#fd !== null) {
      try {
        closeSync(this.#fd);
      } catch {
        // already closed
      }
      this.#fd = null;
    }
    rmSync(this.#tmp, { force: true });
  }
}
