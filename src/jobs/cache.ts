/**
 * `simclr cache`: the decoded image-folder cache (data/image-cache.ts) listed and cleared, in
 * SIMCLR_CACHE_DIR / XDG_CACHE_HOME / ~/.cache/simclr unless a folder is given.
 */
import { resolve } from "node:path";
import { listCacheEntries, removeCacheEntries, type CacheEntryInfo } from "../data/cache-entries.js";
import { defaultCacheDir } from "../data/image-folder.js";

export type { CacheEntryInfo };

export interface CacheListing {
  dir: string;
  entries: CacheEntryInfo[];
  bytes: number;
}

/** The entries of `dir` (default: the default cache folder), most recently used first. */
export function cacheList(dir?: string): CacheListing {
  const at = dir === undefined ? defaultCacheDir() : resolve(dir);
  const entries = listCacheEntries(at);
  return { dir: at, entries, bytes: entries.reduce((a, e) => a + e.bytes, 0) };
}

/** Removes entries (all, those unused for `olderThanDays`, or those of one image folder); entries being built are kept. */
export function cacheClear(options: { dir?: string; olderThanDays?: number; folder?: string }): {
  dir: string;
  removed: CacheEntryInfo[];
  busy: CacheEntryInfo[];
  bytes: number;
} {
  const dir = options.dir === undefined ? defaultCacheDir() : resolve(options.dir);
  const { removed, busy } = removeCacheEntries(dir, {
    ...(options.olderThanDays !== undefined ? { olderThanDays: options.olderThanDays } : {}),
    ...(options.folder !== undefined ? { root: resolve(options.folder) } : {}),
  });
  return { dir, removed, busy, bytes: removed.reduce((a, e) => a + e.bytes, 0) };
}
