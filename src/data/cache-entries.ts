/**
 * The image-folder entries of a cache folder (image-cache.ts), listed and removed: what
 * `simclr cache` shows and clears. Entries are never evicted on their own; a changed folder
 * leaves its old entry behind, so this is how the disk is reclaimed.
 *
 * Removal is safe beside running processes: the index goes first (a process looking for the
 * entry then misses and rebuilds), then the pixels are unlinked, which leaves the mapping of
 * a process training from them intact (Linux keeps an unlinked file's pages until the last
 * mapping goes). An entry being built (its lock held by a live process) is left alone, as are
 * the temporary files of builds still running.
 */
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { hostname } from "node:os";
import { readHolder } from "../io/build-lock.js";
import { processAlive } from "../io/process.js";
import { parseTempName } from "../io/temp.js";
import { pixelBytes, readIndex } from "./image-cache.js";

export interface CacheEntryInfo {
  /** The entry's key (the hex part of image-folder-<key>). */
  key: string;
  /** The folder it caches, or null for entries written before the root was recorded. */
  root: string | null;
  images: number;
  size: number;
  channels: number;
  /** Bytes on disk: pixels, index and any leftovers of the entry. */
  bytes: number;
  /** When a process last opened it (the index's mtime), ms since the epoch. */
  lastUsedMs: number;
  /** false: no readable index (a killed build, another format): only disk to reclaim. */
  complete: boolean;
  /** A live process holds its build lock. */
  building: boolean;
}

// pixels, index, build lock; each of them also as a writer's temporary (io/temp.ts)
const ENTRY = /^image-folder-([0-9a-f]+)\.(u8|json|u8\.lock)$/;

interface Files {
  key: string;
  files: { name: string; bytes: number; mtimeMs: number; tmpPid: number | null }[];
}

function entryFiles(cacheDir: string): Files[] {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const byKey = new Map<string, Files>();
  for (const name of names.sort()) {
    const temp = parseTempName(name);
    const m = ENTRY.exec(temp?.final ?? name);
    if (m === null) continue;
    const key = m[1] as string;
    let st;
    try {
      st = statSync(join(cacheDir, name));
    } catch {
      continue; // removed meanwhile
    }
    if (!st.isFile()) continue;
    const entry = byKey.get(key) ?? { key, files: [] };
    entry.files.push({ name, bytes: st.size, mtimeMs: st.mtimeMs, tmpPid: temp?.pid ?? null });
    byKey.set(key, entry);
  }
  return [...byKey.values()];
}

function lockHolderAlive(path: string): boolean {
  const h = readHolder(path);
  return h !== null && (h.host !== hostname() || processAlive(h.pid)); // another host's: assume alive
}

function describe(cacheDir: string, { key, files }: Files): CacheEntryInfo {
  const base = `image-folder-${key}`;
  const index = files.some((f) => f.name === `${base}.json`) ? readIndex(join(cacheDir, `${base}.json`)) : null;
  const pixels = files.find((f) => f.name === `${base}.u8`);
  const lock = files.some((f) => f.name === `${base}.u8.lock`) && lockHolderAlive(join(cacheDir, `${base}.u8.lock`));
  return {
    key,
    root: index?.root ?? null,
    images: index?.files.length ?? 0,
    size: index?.size ?? 0,
    channels: index?.channels ?? 0,
    bytes: files.reduce((a, f) => a + f.bytes, 0),
    lastUsedMs: Math.max(...files.map((f) => f.mtimeMs)),
    complete: index !== null && pixels !== undefined && pixels.bytes === pixelBytes(index),
    building: lock || files.some((f) => f.tmpPid !== null && processAlive(f.tmpPid)),
  };
}

/** The image-folder entries in `cacheDir` (none when it does not exist), most recently used first. */
export function listCacheEntries(cacheDir: string): CacheEntryInfo[] {
  return entryFiles(cacheDir)
    .map((f) => describe(cacheDir, f))
    .sort((a, b) => b.lastUsedMs - a.lastUsedMs);
}

export interface RemoveOptions {
  /** Only entries not opened for this many days. */
  olderThanDays?: number;
  /** Only entries of this folder (an absolute path; entries without a recorded root never match). */
  root?: string;
}

/**
 * Removes the entries that match (all by default), except those being built. Returns what was
 * removed and what was kept because a live process is building it.
 */
export function removeCacheEntries(cacheDir: string, options: RemoveOptions = {}): { removed: CacheEntryInfo[]; busy: CacheEntryInfo[] } {
  const removed: CacheEntryInfo[] = [];
  const busy: CacheEntryInfo[] = [];
  const cutoff = options.olderThanDays === undefined ? Infinity : Date.now() - options.olderThanDays * 86_400_000;
  for (const files of entryFiles(cacheDir)) {
    const info = describe(cacheDir, files);
    if (info.lastUsedMs > cutoff) continue;
    if (options.root !== undefined && info.root !== options.root) continue;
    if (info.building) {
      busy.push(info);
      continue;
    }
    // the index first: from then on the entry is a miss for everyone
    const order = [...files.files].sort((a, b) => Number(b.name.endsWith(".json")) - Number(a.name.endsWith(".json")));
    for (const f of order) rmSync(join(cacheDir, f.name), { force: true });
    removed.push(info);
  }
  return { removed, busy };
}
