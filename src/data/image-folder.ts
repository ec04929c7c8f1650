/**
 * A folder of image files, in torchvision's ImageFolder layout (`root/<class>/<image>`, classes
 * sorted by name) or flat (`root/<image>`, unlabeled: the usual case for SimCLR pretraining,
 * which needs no labels). Images are decoded with sharp (libvips) once, at the training
 * resolution, into a memory-mapped cache file (image-cache.ts): decoding tens of thousands of
 * JPEGs takes far longer than reading one file, and a mapped file need not fit in memory.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, realpathSync, statSync, type Dirent } from "node:fs";
import { homedir } from "node:os";
import { extname, join, relative, resolve } from "node:path";
import sharp from "sharp";
import { tensor } from "../tensor/factory.js";
import { CACHE_FORMAT, CacheWriter, cachePaths, openCache, type CacheEntry } from "./image-cache.js";
import { lockOrWait, type BuildLock } from "../io/build-lock.js";
import type { LabeledImages } from "./fashion-mnist.js";
import { ArgumentError, DataError } from "../errors.js";

/** Extensions read as images (compared case-insensitively); other files are ignored. */
export const IMAGE_EXTENSIONS: readonly string[] = [".jpg", ".jpeg", ".png", ".webp"];

/** Decodes in flight at once: enough to keep libvips' threads busy without holding every file. */
const DECODE_CONCURRENCY = 32;
/** Bad files listed in one error; the rest are counted. */
const MAX_LISTED_ERRORS = 20;

export interface ImageFolderOptions {
  /** The root folder: class sub-folders of images, or images directly (unlabeled). */
  path: string;
  /** Output side in pixels: the shorter side is scaled to it and the centre cropped square. */
  size: number;
  /** 3 (sRGB, default) or 1 (grayscale). */
  channels?: 1 | 3;
  /** Keep only the first N images of the interleaved order (see loadImageFolder). */
  limit?: number;
  /** Leave out files that fail to decode (reported in `skipped`) instead of failing. */
  skipBad?: boolean;
  /** Where decoded tensors are cached; null: no cache. Default: defaultCacheDir(). */
  cacheDir?: string | null;
  /** Called after each decoded file (not on a cache hit). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Stops the load: no further file starts decoding, and once the files in flight finish the
   * call rejects with the signal's reason; a cache entry being built is discarded.
   */
  signal?: AbortSignal;
}

export type ImageFolder = LabeledImages & {
  /** Absolute paths of the images, in tensor order. */
  files: string[];
  /** Files left out with skipBad, and why. */
  skipped: { file: string; reason: string }[];
  /** false for a flat folder: labels are all -1 and classes is empty. */
  labeled: boolean;
  /** true when the tensors came from the cache rather than from decoding. */
  fromCache: boolean;
};

/** SIMCLR_CACHE_DIR, else $XDG_CACHE_HOME/simclr, else ~/.cache/simclr (the XDG convention). */
export function defaultCacheDir(): string {
  const own = process.env.SIMCLR_CACHE_DIR;
  if (own) return resolve(own);
  const xdg = process.env.XDG_CACHE_HOME;
  if (xdg) return join(resolve(xdg), "simclr");
  return join(homedir(), ".cache", "simclr");
}

function byCodepoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Hidden names are skipped: macOS writes `._name.jpg` AppleDouble files beside copied images
 * (not images, despite the extension) and tools leave folders such as `.ipynb_checkpoints`.
 */
function isHidden(name: string): boolean {
  return name.startsWith(".");
}

function isImageName(name: string): boolean {
  return !isHidden(name) && IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** "dir", "file" or null, following symbolic links (a linked class folder is a class). */
function kindOf(dir: string, entry: Dirent): "dir" | "file" | null {
  if (entry.isDirectory()) return "dir";
  if (entry.isFile()) return "file";
  if (entry.isSymbolicLink()) {
    try {
      const s = statSync(join(dir, entry.name));
      return s.isDirectory() ? "dir" : s.isFile() ? "file" : null;
    } catch {
      return null; // a dangling link
    }
  }
  return null;
}

/** An entry skipped while listing, with its reason: a name that is not UTF-8. */
export interface UnlistedEntry {
  file: string;
  reason: string;
}

/** A name's bytes with every non-ASCII byte as \xNN: how a name that is not UTF-8 is shown. */
function escapeName(bytes: Buffer): string {
  return [...bytes].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");
}

/**
 * A folder's entries. A name that is not valid UTF-8 (as old archives write Latin-1
 * `caf\xe9.png`) cannot be named by a path string, so it is left out and, when it is an image
 * or a folder, reported to `unlisted` with its bytes escaped.
 */
function readFolder(dir: string, source: string, unlisted?: UnlistedEntry[]): Dirent[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true, encoding: "buffer" }) as unknown as Dirent[];
  } catch (e) {
    throw new DataError(source, `cannot read folder: ${(e as Error).message}`);
  }
  const out: Dirent[] = [];
  for (const entry of entries) {
    const bytes = entry.name as unknown as Buffer;
    const name = bytes.toString("utf-8");
    if (Buffer.from(name, "utf-8").equals(bytes)) {
      Object.defineProperty(entry, "name", { value: name });
      out.push(entry);
      continue;
    }
    const shown = escapeName(bytes);
    if (!isHidden(shown) && (entry.isDirectory() || isImageName(shown))) {
      unlisted?.push({
        file: join(dir, shown),
        reason: "its name is not valid UTF-8, so it cannot be read by name: rename it (convmv -f latin1 -t utf8 converts a folder)",
      });
    }
  }
  return out;
}

/** Images anywhere below a class folder (as torchvision walks it), relative to `root`, sorted. */
function listClassImages(root: string, dir: string, seen: Set<string>, out: string[], unlisted?: UnlistedEntry[]): void {
  const real = realpathSync(dir);
  if (seen.has(real)) return; // a link cycle
  seen.add(real);
  for (const entry of readFolder(dir, dir, unlisted)) {
    if (isHidden(entry.name)) continue;
    const kind = kindOf(dir, entry);
    if (kind === "dir") listClassImages(root, join(dir, entry.name), seen, out, unlisted);
    else if (kind === "file" && isImageName(entry.name)) out.push(relative(root, join(dir, entry.name)));
  }
}

/**
 * Every image below `root` (JPEG, PNG, WebP; hidden names skipped; symbolic links followed,
 * link cycles cut), as paths relative to `root`, sorted by code point.
 */
export function listImages(root: string, unlisted?: UnlistedEntry[]): string[] {
  let rootStat;
  try {
    rootStat = statSync(root);
  } catch (e) {
    throw new DataError(root, `cannot read: ${(e as Error).message}`);
  }
  if (!rootStat.isDirectory()) throw new DataError(root, "is not a folder");
  const out: string[] = [];
  listClassImages(root, root, new Set(), out, unlisted);
  return out.sort(byCodepoint);
}

interface Listing {
  classes: string[];
  labeled: boolean;
  /** Relative paths and class indices (-1: unlabeled), in the interleaved order. */
  items: { file: string; label: number }[];
  /** Images and folders left out for their names (readFolder): bad files, like undecodable ones. */
  unlisted: UnlistedEntry[];
}

function listFolder(root: string): Listing {
  let rootStat;
  try {
    rootStat = statSync(root);
  } catch (e) {
    throw new DataError(root, `cannot read: ${(e as Error).message}`);
  }
  if (!rootStat.isDirectory()) throw new DataError(root, "is not a folder (expected class sub-folders of images, or images)");
  const unlisted: UnlistedEntry[] = [];
  const entries = readFolder(root, root, unlisted);
  const flat = entries
    .filter((e) => kindOf(root, e) === "file" && isImageName(e.name))
    .map((e) => e.name)
    .sort(byCodepoint);
  const folders = entries
    .filter((e) => !isHidden(e.name) && kindOf(root, e) === "dir")
    .map((e) => e.name)
    .sort(byCodepoint);
  const perClass = folders.map((name) => {
    const files: string[] = [];
    listClassImages(root, join(root, name), new Set(), files, unlisted);
    return files.sort(byCodepoint);
  });
  const withImages = folders.filter((_, c) => (perClass[c] as string[]).length > 0);
  const extensions = IMAGE_EXTENSIONS.join(" ");
  if (flat.length > 0 && withImages.length > 0) {
    throw new DataError(
      root,
      `holds both images (e.g. ${flat[0]}) and class sub-folders of images (e.g. ${withImages[0]}/): ` +
        "use one layout, class sub-folders (labeled) or images directly in the folder (unlabeled)",
    );
  }
  if (flat.length > 0) {
    // Sub-folders without images (thumbnails, notes) do not make a flat folder labeled.
    return { classes: [], labeled: false, items: flat.map((file) => ({ file, label: -1 })), unlisted };
  }
  if (withImages.length === 0) {
    throw new DataError(root, `no images found (looked for ${extensions} files directly inside it and in class sub-folders)`);
  }
  const empty = folders.filter((_, c) => (perClass[c] as string[]).length === 0);
  if (empty.length > 0) {
    throw new DataError(
      root,
      `class folders with no images: ${empty.join(", ")} (each sub-folder is a class and needs ${extensions} images; remove or fill them)`,
    );
  }
  // Round-robin across classes: class0[0], class1[0], ..., class0[1], class1[1], ...
  const items: { file: string; label: number }[] = [];
  const longest = Math.max(...perClass.map((f) => f.length));
  for (let k = 0; k < longest; k++) {
    perClass.forEach((files, label) => {
      if (k < files.length) items.push({ file: files[k] as string, label });
    });
  }
  return { classes: folders, labeled: true, items, unlisted };
}

/** The cache key: everything the decoded pixels depend on, files by size and mtime. */
function cacheKey(root: string, options: ImageFolderOptions, channels: number, listing: Listing): string {
  const files = listing.items.map(({ file }) => {
    const s = statSync(join(root, file));
    return [file, s.size, s.mtimeMs];
  });
  const key = {
    format: CACHE_FORMAT,
    path: root,
    size: options.size,
    channels,
    limit: options.limit ?? null,
    skipBad: options.skipBad ?? false,
    classes: listing.classes,
    files,
  };
  return createHash("sha256").update(JSON.stringify(key)).digest("hex");
}

/**
 * Decodes one file (or encoded bytes) to `size` x `size` x `channels` bytes (HWC), as described
 * on loadImageFolder. The EXIF orientation is applied first (sharp's autoOrient), as every
 * browser does when it shows the file: a phone photo stored sideways is embedded upright.
 */
export async function decodeImage(file: string | Buffer, size: number, channels: 1 | 3): Promise<Buffer> {
  let pipeline = sharp(file).autoOrient().resize(size, size, { fit: "cover" }).removeAlpha();
  pipeline = channels === 1 ? pipeline.grayscale() : pipeline.toColourspace("srgb");
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== channels || data.byteLength !== size * size * channels) {
    throw new Error(
      `decoded to ${info.width}x${info.height} with ${info.channels} channels (${data.byteLength} bytes), expected ${size}x${size} with ${channels}`,
    );
  }
  return data;
}

/** Copies one decoded image from HWC bytes (decodeImage's layout) into `chw` as C planes. */
export function hwcToPlanes(hwc: Uint8Array, chw: Uint8Array, channels: 1 | 3): void {
  if (channels === 1) {
    chw.set(hwc);
    return;
  }
  const plane = chw.length / 3;
  for (let p = 0; p < plane; p++) {
    chw[p] = hwc[3 * p] as number; // R plane
    chw[plane + p] = hwc[3 * p + 1] as number; // G plane
    chw[2 * plane + p] = hwc[3 * p + 2] as number; // B plane
  }
}

/**
 * Decodes `inputs` (files or encoded bytes), `concurrency` at a time, handing each decoded
 * image to `onDecoded(i, hwc)`; returns, per input, null where it decoded or the reason it
 * did not. libvips keeps one error buffer for the whole process, so when decodes run at once
 * a failure's message can be another file's ("VipsJpeg: premature end" for a PNG): each
 * failure is decoded once more on its own, after the others, and that attempt's message is
 * the one reported (or, if it now decodes, the image is kept).
 */
export async function decodeImages(
  inputs: readonly (string | Buffer)[],
  size: number,
  channels: 1 | 3,
  onDecoded: (i: number, hwc: Buffer) => void,
  options: { concurrency?: number; onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {},
): Promise<(string | null)[]> {
  const reasons = new Array<string | null>(inputs.length).fill(null);
  const failed: number[] = [];
  let done = 0; // first attempts finished
  const { signal } = options;
  await forEachBounded(inputs.length, options.concurrency ?? DECODE_CONCURRENCY, signal, async (i) => {
    try {
      onDecoded(i, await decodeImage(inputs[i] as string | Buffer, size, channels));
    } catch {
      failed.push(i);
    }
    options.onProgress?.(++done, inputs.length);
  });
  signal?.throwIfAborted();
  for (const i of failed.sort((a, b) => a - b)) {
    try {
      onDecoded(i, await decodeImage(inputs[i] as string | Buffer, size, channels));
    } catch (e) {
      reasons[i] = (e as Error).message || String(e);
    }
  }
  return reasons;
}

/**
 * Runs `fn(0..count-1)` with at most `limit` calls in flight; `fn` must not reject. Once
 * `signal` aborts no call starts, and the promise resolves when those in flight finish.
 */
async function forEachBounded(count: number, limit: number, signal: AbortSignal | undefined, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count && signal?.aborted !== true) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

function checkOptions(options: ImageFolderOptions): 1 | 3 {
  const { size, limit } = options;
  const channels = options.channels ?? 3;
  if (!Number.isSafeInteger(size) || size < 1) throw new ArgumentError(`loadImageFolder: size must be a positive integer, got ${size}`);
  if (channels !== 1 && channels !== 3) throw new ArgumentError(`loadImageFolder: channels must be 1 or 3, got ${String(channels)}`);
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new ArgumentError(`loadImageFolder: limit must be a non-negative integer, got ${limit}`);
  }
  return channels;
}

/**
 * Loads a folder of images as uint8 (N, C, size, size) with int64 labels.
 *
 * Layout: each sub-folder of `path` is a class (classes sorted by name, as torchvision's
 * ImageFolder, and its images found at any depth below it), or the images sit directly in
 * `path` and are unlabeled (labels all -1, classes empty). Files ending in .jpg .jpeg .png
 * .webp (any case) are images; other files and hidden names are ignored.
 *
 * Order: files are sorted within each class, then taken round-robin across classes
 * (class0[0], class1[0], ..., class0[1], class1[1], ...), so the first N of that order, which
 * `limit` keeps, hold every class about equally. A class that runs out drops out of the round.
 *
 * Decoding (sharp): the shorter side is scaled to `size` and the centre cropped to a square
 * (`fit: "cover"`, as torchvision's Resize(size) + CenterCrop(size)); alpha is dropped; the
 * result is sRGB, or grayscale for `channels` 1. EXIF orientation is not applied (PIL,
 * behind torchvision, does not apply it either).
 *
 * A file that fails to decode is an error listing every bad file, unless `skipBad` leaves
 * them out (listed in `skipped`); they still count towards `limit`, which selects files
 * before decoding.
 *
 * Cache (image-cache.ts): unless `cacheDir` is null, the pixels are decoded once into
 * `<cacheDir>/image-folder-<sha256>.u8` (+ `.json`), keyed by the absolute path, the options
 * and every selected file's name, size and mtime, and the images tensor is a memory map of
 * that file: the folder may be larger than memory. A later call with the same inputs maps it
 * again (`fromCache`); a changed file decodes afresh. An entry that cannot be read is decoded
 * over; one that cannot be written gives a warning and the images are decoded into memory.
 * Processes that miss the same entry at once (the ranks of a launch) build it once: the first
 * takes `<entry>.u8.lock` and the others wait, hearing its progress through `onProgress`
 * (build-lock.ts).
 * With `cacheDir` null the images are decoded into memory and nothing is written.
 */
export async function loadImageFolder(options: ImageFolderOptions): Promise<ImageFolder> {
  const channels = checkOptions(options);
  const { size } = options;
  const root = resolve(options.path);
  const listing = listFolder(root);
  if (options.limit !== undefined) listing.items = listing.items.slice(0, options.limit);

  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  if (cacheDir === null) return decodeFolder(root, listing, options, channels, null);
  const paths = cachePaths(cacheDir, cacheKey(root, options, channels, listing));
  const cached = openCache(paths, size, channels);
  if (cached !== null) return fromEntry(root, cached, true);

  let writer: CacheWriter | null = null;
  let lock: BuildLock | null = null;
  try {
    mkdirSync(cacheDir, { recursive: true });
    // one builder per entry: another process (a rank of the same launch) may be building it
    const got = await lockOrWait(`${paths.pixels}.lock`, () => openCache(paths, size, channels), {
      ...(options.onProgress !== undefined ? { onWaitProgress: options.onProgress } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    if ("built" in got) return fromEntry(root, got.built, true);
    lock = got.lock;
    writer = new CacheWriter(paths, channels * size * size);
  } catch (e) {
    lock?.release();
    lock = null;
    options.signal?.throwIfAborted();
    process.emitWarning(`image folder cache not written to ${cacheDir}: ${(e as Error).message}; decoding into memory instead`);
  }
  try {
    const held = lock;
    const onProgress = (done: number, total: number) => {
      held?.progress(done, total);
      options.onProgress?.(done, total);
    };
    const decoded = await decodeFolder(root, listing, { ...options, onProgress }, channels, writer);
    if (decoded !== null) return decoded;
  } finally {
    lock?.release();
  }
  const built = openCache(paths, size, channels);
  if (built === null) throw new DataError(paths.pixels, "the image cache just written cannot be read back (was it removed meanwhile?)");
  return fromEntry(root, built, false);
}

function fromEntry(root: string, { images, labels, index }: CacheEntry, fromCache: boolean): ImageFolder {
  return {
    images,
    labels,
    classes: index.classes,
    files: index.files.map((f) => join(root, f)),
    skipped: index.skipped.map((s) => ({ file: join(root, s.file), reason: s.reason })),
    labeled: index.classes.length > 0,
    fromCache,
  };
}

/**
 * Decodes the listed files, each into its slot of the cache `writer` or, without one, of one
 * array in memory. Returns the images in memory, or null once the writer holds a finished
 * entry. A writer that fails (full disk) is abandoned with a warning and the folder decoded
 * again into memory.
 */
async function decodeFolder(root: string, listing: Listing, options: ImageFolderOptions, channels: 1 | 3, writer: null): Promise<ImageFolder>;
async function decodeFolder(
  root: string,
  listing: Listing,
  options: ImageFolderOptions,
  channels: 1 | 3,
  writer: CacheWriter | null,
): Promise<ImageFolder | null>;
async function decodeFolder(
  root: string,
  listing: Listing,
  options: ImageFolderOptions,
  channels: 1 | 3,
  writer: CacheWriter | null,
): Promise<ImageFolder | null> {
  const { size } = options;
  const total = listing.items.length;
  const imageBytes = channels * size * size;
  const pixels = writer === null ? new Uint8Array(total * imageBytes) : null;
  const files = listing.items.map((item) => join(root, item.file));
  let failures: (string | null)[];
  try {
    failures = await decodeImages(
      files,
      size,
      channels,
      (i, hwc) => {
        const chw = pixels === null ? new Uint8Array(imageBytes) : pixels.subarray(i * imageBytes, (i + 1) * imageBytes);
        hwcToPlanes(hwc, chw, channels);
        writer?.write(i, chw);
      },
      {
        ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
      },
    );
  } catch (e) {
    writer?.abort(); // stopped (options.signal): half an entry is no entry
    throw e;
  }

  // bad files: one error listing them all, or leave them out
  const bad = [
    ...listing.unlisted,
    ...listing.items.flatMap((item, i) => (failures[i] === null ? [] : [{ file: join(root, item.file), reason: failures[i] as string }])),
  ];
  if (bad.length > 0 && !options.skipBad) {
    writer?.abort();
    const lines = bad.slice(0, MAX_LISTED_ERRORS).map((b) => `  ${b.file}: ${b.reason}`);
    if (bad.length > MAX_LISTED_ERRORS) lines.push(`  and ${bad.length - MAX_LISTED_ERRORS} more`);
    throw new DataError(
      root,
      `${bad.length} of ${total + listing.unlisted.length} images could not be decoded (set data.skipBad to skip them):\n${lines.join("\n")}`,
    );
  }
  const kept = listing.items.flatMap((item, i) => (failures[i] === null ? [{ ...item, slot: i }] : []));

  if (writer !== null) {
    try {
      writer.finish(
        kept.map(({ slot }) => slot),
        {
          format: CACHE_FORMAT,
          size,
          channels,
          classes: listing.classes,
          files: kept.map(({ file }) => file),
          labels: kept.map(({ label }) => label),
          skipped: bad.map((b) => ({ file: relative(root, b.file), reason: b.reason })),
          root,
        },
      );
      return null;
    } catch (e) {
      writer.abort();
      process.emitWarning(`image folder cache not written: ${(e as Error).message}; decoding into memory instead`);
      return decodeFolder(root, listing, options, channels, null);
    }
  }

  let keptPixels = pixels as Uint8Array;
  if (kept.length < total) {
    keptPixels = new Uint8Array(kept.length * imageBytes);
    kept.forEach(({ slot }, j) => keptPixels.set((pixels as Uint8Array).subarray(slot * imageBytes, (slot + 1) * imageBytes), j * imageBytes));
  }
  return {
    images: tensor(keptPixels, { shape: [kept.length, channels, size, size] }),
    labels: tensor(BigInt64Array.from(kept, ({ label }) => BigInt(label))),
    classes: listing.classes,
    files: kept.map(({ file }) => join(root, file)),
    skipped: bad,
    labeled: listing.labeled,
    fromCache: false,
  };
}
