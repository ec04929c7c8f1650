/** `simclr cache [list | clear] [--dir DIR] [--older-than DAYS] [--folder PATH] [--json]` */
import { parseArgs } from "node:util";
import { cacheClear, cacheList, type CacheEntryInfo } from "../jobs/cache.js";
import { formatBytes } from "../io/format.js";
import { UsageError, numberFlag, printResult } from "./common.js";

export const CACHE_HELP = `simclr cache [list | clear] [--dir DIR] [--older-than DAYS] [--folder PATH] [--json]

Image folders are decoded once into a cache (SIMCLR_CACHE_DIR, else $XDG_CACHE_HOME/simclr, else
~/.cache/simclr; --dir for another) and never evicted on their own: a changed folder leaves
its old entry behind. 'list' (the default) shows each entry: the folder it caches, images,
resolution, disk used and when a process last opened it (--json: one JSON line per entry).
'clear' removes every entry, or with --older-than DAYS those not opened for that long, or with
--folder PATH those of one image folder; an entry a live process is building is kept. A run
training from a removed entry is not disturbed (its mapping stays valid); the next run
decodes the folder again. See docs/pretraining.md.`;

function when(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}

function row(e: CacheEntryInfo): string {
  const what = e.building ? "(being built)" : !e.complete ? "(incomplete: leftovers of a build)" : (e.root ?? "(folder not recorded)");
  return [
    when(e.lastUsedMs),
    formatBytes(e.bytes).padStart(10),
    String(e.images).padStart(8),
    String(e.size).padStart(4),
    String(e.channels).padStart(3),
    `  ${what}`,
  ].join("  ");
}

export async function cacheCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { dir: { type: "string" }, "older-than": { type: "string" }, folder: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean" } },
  });
  if (values.help) {
    process.stdout.write(`${CACHE_HELP}\n`);
    return 0;
  }
  const action = positionals[0] ?? "list";
  if (positionals.length > 1 || (action !== "list" && action !== "clear"))
    throw new UsageError(`cache takes 'list' or 'clear', got '${positionals.join(" ")}'`);
  if (action === "list") {
    if (values["older-than"] !== undefined || values.folder !== undefined) throw new UsageError("--older-than and --folder go with 'simclr cache clear'");
    const listing = cacheList(values.dir);
    if (values.json) {
      for (const e of listing.entries) printResult({ ...e, lastUsed: new Date(e.lastUsedMs).toISOString() });
      return 0;
    }
    process.stdout.write(`${listing.dir}: ${listing.entries.length} entries, ${formatBytes(listing.bytes)}\n`);
    if (listing.entries.length > 0) {
      process.stdout.write(`${["last used (UTC)   ", "      disk", "  images", "  px", " ch", "  folder"].join("  ")}\n`);
      for (const e of listing.entries) process.stdout.write(`${row(e)}\n`);
    }
    return 0;
  }
  const olderThanDays =
    values["older-than"] === undefined ? undefined : numberFlag("older-than", values["older-than"], 0, { min: 0, what: "a number of days >= 0" });
  const result = cacheClear({
    ...(values.dir !== undefined ? { dir: values.dir } : {}),
    ...(olderThanDays !== undefined ? { olderThanDays } : {}),
    ...(values.folder !== undefined ? { folder: values.folder } : {}),
  });
  for (const e of result.busy) process.stderr.write(`kept ${e.root ?? e.key}: a live process is building it\n`);
  printResult({ dir: result.dir, removed: result.removed.length, freed_bytes: result.bytes, kept_busy: result.busy.length });
  return 0;
}
