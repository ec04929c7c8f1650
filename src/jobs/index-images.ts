/**
 * `simclr index`: a folder of images (recursive; JPEG, PNG, WebP) embedded by a run's encoder
 * into a search index (src/search/index-store.ts). Incremental: files whose size and mtime are
 * unchanged keep their rows, new and changed files are embedded, deleted ones dropped. An
 * index made by other weights, or of another folder, is refused. Written atomically, by one
 * writer at a time (INDEX.lock).
 */
import { existsSync, readdirSync, realpathSync, rmSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Config } from "../config/schema.js";
import { listImages } from "../data/image-folder.js";
import { DataError, NonFiniteFeaturesError } from "../errors.js";
import { dataShape } from "../recipe/recipe.js";
import { loadEncoder } from "../run/encoder.js";
import { ImageEmbedder } from "../search/embedder.js";
import { modelIdentity } from "../search/identity.js";
import { readIndex, writeIndex, type IndexedFile, type ModelIdentity } from "../search/index-store.js";
import { tensor } from "../tensor/factory.js";
import { nonFiniteRowsOfArray } from "../tensor/finite.js";
import { disposingAfter, type Owned } from "../tensor/scope.js";
import { ProgressReporter } from "../io/progress.js";
import { parseTempName } from "../io/temp.js";
import { acquireWriterLock, type WriterLock } from "../io/writer-lock.js";
import { checkConfig } from "../config/load.js";

export interface IndexOptions {
  /** The folder to index. */
  images: string;
  /** The index file (updated in place when it exists). */
  out: string;
  checkpoint?: string;
  batchSize?: number;
  /**
   * Load weights that hold NaN or infinite values, and index past images whose features are
   * NaN or infinite (they are skipped and reported); by default both are refused.
   */
  allowNonFinite?: boolean;
  /** Where progress and messages go (default: stderr). */
  progress?: ProgressReporter;
}

export interface IndexResult {
  out: string;
  files: number;
  embedded: number;
  reused: number;
  removed: number;
  skipped: { file: string; reason: string }[];
  seconds: number;
  /** Images embedded per second (decode + forward). */
  imagesPerSecond: number;
}

/** The encoder of a run (or a checkpoint) ready to embed images, and its identity. */
export function openEmbedder(
  runDir: string,
  config: Config,
  checkpoint?: string,
  allowNonFinite = false,
): { embedder: ImageEmbedder; identity: ModelIdentity; origin: string; dispose(): void } {
  const [channels, side] = dataShape(config);
  const source = loadEncoder({ config, inChannels: channels, runDir, ...(checkpoint !== undefined ? { checkpoint } : {}), allowNonFinite });
  const device = config.train.device;
  source.model.to(device);
  const identity = modelIdentity(source.encoder, { run: resolve(runDir), checkpoint: resolve(source.origin), arch: config.model.arch, inputSize: side });
  return {
    embedder: new ImageEmbedder(source.encoder, side, channels === 1 ? 1 : 3, device),
    identity,
    origin: source.origin,
    dispose: () => source.model.dispose(),
  };
}

export async function indexImages(runDir: string, config: Config, options: IndexOptions): Promise<IndexResult> {
  checkConfig(config, "indexImages(config)");
  return disposingAfter((owned) => indexImagesIn(owned, runDir, config, options));
}

/**
 * Takes the index's writer lock (`INDEX.lock`), so two runs into one index cannot both write
 * it, and removes the temporaries an interrupted writer left beside it (the lock's holder is
 * the only writer, so every one of them is abandoned).
 */
function lockIndex(out: string, progress: ProgressReporter): WriterLock {
  const lock = acquireWriterLock(`${out}.lock`, out, {
    onStale: (h) => progress.message(`index: taking over ${out}.lock from pid ${h.pid}, which is gone`),
  });
  const dir = dirname(resolve(out));
  for (const name of readdirSync(dir)) {
    if (parseTempName(name)?.final === basename(out)) {
      rmSync(join(dir, name), { force: true, recursive: true });
      progress.message(`index: removed ${join(dir, name)}, left by an interrupted write`);
    }
  }
  return lock;
}

async function indexImagesIn(owned: Owned[], runDir: string, config: Config, options: IndexOptions): Promise<IndexResult> {
  const progress = options.progress ?? new ProgressReporter();
  const lock = lockIndex(options.out, progress);
  try {
    return await indexLocked(owned, runDir, config, options, progress);
  } finally {
    lock.release();
  }
}

async function indexLocked(owned: Owned[], runDir: string, config: Config, options: IndexOptions, progress: ProgressReporter): Promise<IndexResult> {
  const started = performance.now();
  const root = resolve(options.images);
  const unlisted: { file: string; reason: string }[] = [];
  const paths = listImages(root, unlisted);
  if (paths.length === 0) throw new DataError(root, "has no images (JPEG, PNG or WebP, searched recursively)");
  // Links that resolve outside the folder are left out: `serve` would refuse their images.
  const rootReal = realpathSync(root);
  const leftOut: { file: string; reason: string }[] = [...unlisted]; // skipped before embedding
  const files: IndexedFile[] = paths.flatMap((p) => {
    const rel = relative(rootReal, realpathSync(join(root, p)));
    if (rel.startsWith("..") || isAbsolute(rel)) {
      leftOut.push({ file: join(root, p), reason: "links outside the indexed folder" });
      return [];
    }
    const s = statSync(join(root, p));
    return [{ path: p.split(sep).join("/"), size: s.size, mtimeMs: s.mtimeMs }];
  });

  const allowNonFinite = options.allowNonFinite ?? false;
  const opened = openEmbedder(runDir, config, options.checkpoint, allowNonFinite);
  owned.push(opened);
  const { embedder, identity } = opened;
  const previous = existsSync(options.out) ? readIndex(options.out) : null;
  if (previous !== null) {
    owned.push(previous.embeddings);
    if (previous.model.hash !== identity.hash) {
      throw new DataError(
        options.out,
        `was made by another model (${previous.model.checkpoint}, weights ${previous.model.hash.slice(0, 12)}), not this one (${identity.checkpoint}, ${identity.hash.slice(0, 12)}): write the new index to another path, or delete this one`,
      );
    }
    if (previous.root !== root) throw new DataError(options.out, `indexes ${previous.root}, not ${root}: write the new index to another path`);
  }
  const dim = identity.featureDim;
  const old = new Map((previous?.files ?? []).map((f, i) => [f.path, { f, i }]));
  const oldRows = previous === null ? new Float32Array(0) : (previous.embeddings.data() as Float32Array);
  const rows = new Map<string, Float32Array>();
  const todo: IndexedFile[] = [];
  for (const f of files) {
    const o = old.get(f.path);
    if (o !== undefined && o.f.size === f.size && o.f.mtimeMs === f.mtimeMs) rows.set(f.path, oldRows.subarray(o.i * dim, (o.i + 1) * dim));
    else todo.push(f);
  }
  const reused = rows.size;
  const present = new Set(files.map((f) => f.path));
  const removed = (previous?.files ?? []).filter((f) => !present.has(f.path)).length;
  progress.message(`index: ${files.length} images in ${root}: ${reused} unchanged, ${todo.length} to embed, ${removed} removed`);

  const skipped: { file: string; reason: string }[] = [...leftOut];
  const batch = options.batchSize ?? 256;
  const embedStart = performance.now();
  for (let start = 0; start < todo.length; start += batch) {
    const chunk = todo.slice(start, start + batch);
    const decoded = await embedder.decode(chunk.map((f) => join(root, f.path)));
    const h = embedder.embedPixels(decoded.pixels, decoded.count); // (count * D)
    // Finite weights can still overflow (a diverged run): such rows would poison every search.
    const nonFinite = new Set(nonFiniteRowsOfArray(h, dim));
    if (nonFinite.size > 0 && !allowNonFinite) {
      throw new NonFiniteFeaturesError(
        nonFinite.size,
        `index ${root}: images give NaN or infinite features with ${opened.origin} (${nonFinite.size} of a batch of ${decoded.count}): its weights diverged. ` +
          "Use an earlier checkpoint, or allowNonFinite to index the others and skip these.",
      );
    }
    decoded.rows.forEach((r, j) => {
      const f = chunk[j] as IndexedFile;
      if ("error" in r) skipped.push({ file: join(root, f.path), reason: r.error });
      else if (nonFinite.has(r.row)) skipped.push({ file: join(root, f.path), reason: "its features are NaN or infinite (the encoder diverged)" });
      else rows.set(f.path, h.subarray(r.row * dim, (r.row + 1) * dim));
    });
    const done = Math.min(start + batch, todo.length);
    progress.message(`index: embedded ${done}/${todo.length} (${(done / ((performance.now() - embedStart) / 1000)).toFixed(0)} images/s)`);
  }
  for (const s of skipped) progress.message(`index: skipped ${s.file}: ${s.reason}`);

  const kept = files.filter((f) => rows.has(f.path));
  if (kept.length === 0) throw new DataError(root, `has no readable images (${skipped.length} could not be decoded)`);
  const all = new Float32Array(kept.length * dim);
  kept.forEach((f, i) => all.set(rows.get(f.path) as Float32Array, i * dim));
  const embeddings = tensor(all, { shape: [kept.length, dim] }); // (N, D)
  owned.push(embeddings);
  writeIndex(options.out, { root, files: kept, embeddings, model: identity, updatedAt: new Date().toISOString() });
  const embedSeconds = (performance.now() - embedStart) / 1000;
  const embedded = todo.length - (skipped.length - leftOut.length);
  return {
    out: options.out,
    files: kept.length,
    embedded,
    reused,
    removed,
    skipped,
    seconds: (performance.now() - started) / 1000,
    imagesPerSecond: embedded > 0 ? embedded / embedSeconds : 0,
  };
}
