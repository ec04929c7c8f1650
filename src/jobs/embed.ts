/**
 * Embedding a collection with a run's encoder: h (or z with `z`) of every image as a float32
 * .npy, and a JSON sidecar with the files (or indices), labels where known, and what was
 * skipped. Images go through the encoder in batches, BN in inference mode, no gradients.
 */
import type { Config } from "../config/schema.js";
import { loadDataset } from "../data/datasets.js";
import { DataLoader } from "../data/loader.js";
import { loadImageFolder } from "../data/image-folder.js";
import { DataError } from "../errors.js";
import { writeFilesAtomic } from "../io/atomic.js";
import { dataShape } from "../recipe/recipe.js";
import { checkFeaturesFinite, loadEncoder } from "../run/encoder.js";
import { serializeNpy } from "../run/npy.js";
import { cat } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import { disposingAfter, tidy, type Owned } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { ProgressReporter } from "../io/progress.js";
import { checkConfig } from "../config/load.js";

export interface EmbedOptions {
  /** Load weights that hold NaN or infinite values, and write features that do (both refused by default: they give silently wrong results). */
  allowNonFinite?: boolean;
  /** An image folder (recursive: flat or one sub-folder per class); else the config's data set. */
  images?: string;
  /** With the config's data set: which split (default train). */
  split?: "train" | "test";
  /** Where the .npy goes; the sidecar is the same path with .json. */
  out: string;
  /** z (the projection head's output) instead of h. */
  z?: boolean;
  checkpoint?: string;
  batchSize?: number;
  /** Where progress and messages go (default: stderr). */
  progress?: ProgressReporter;
}

export interface EmbedResult {
  out: string;
  sidecar: string;
  shape: [number, number];
  skipped: { file: string; reason: string }[];
}

export async function embed(runDir: string, config: Config, options: EmbedOptions): Promise<EmbedResult> {
  checkConfig(config, "embed(config)");
  return disposingAfter((owned) => embedIn(owned, runDir, config, options));
}

async function embedIn(owned: Owned[], runDir: string, config: Config, options: EmbedOptions): Promise<EmbedResult> {
  const progress = options.progress ?? new ProgressReporter();
  const folder = options.images;
  // An image folder is resized to what the run's encoder was trained on.
  const [channels, side] = dataShape(config);
  const data =
    folder !== undefined
      ? await loadImageFolder({
          path: folder,
          size: side,
          channels: channels === 1 ? 1 : 3,
          skipBad: true,
          onProgress: (done, total) => done % 500 === 0 && progress.message(`decoding images: ${done}/${total}`),
        })
      : { ...(await loadDataset(config.data, options.split ?? "train")), files: [] as string[], skipped: [] as { file: string; reason: string }[] };
  owned.push(data.images, data.labels);
  const n = data.images.size(0);
  if (n === 0) throw new DataError(folder ?? config.data.name, `has no readable images${data.skipped.length > 0 ? ` (${data.skipped.length} skipped)` : ""}`);
  for (const s of data.skipped) progress.message(`skipped ${s.file}: ${s.reason}`);
  const source = loadEncoder({
    config,
    inChannels: data.images.size(1),
    runDir,
    ...(options.checkpoint !== undefined ? { checkpoint: options.checkpoint } : {}),
    allowNonFinite: options.allowNonFinite ?? false,
  });
  owned.push(source.model);
  const device = config.train.device;
  source.model.to(device).eval();
  const loader = new DataLoader({ images: data.images }, { batchSize: options.batchSize ?? 256, device, shuffle: false });
  owned.push(loader);
  // The loop is synchronous, so a tidy scope holds it: each batch is freed once embedded, the parts once joined (all of it on an error).
  const all = tidy(() => {
    const parts: Tensor[] = [];
    let done = 0;
    for (const batch of loader.batches()) {
      parts.push(
        tidy(() =>
          noGrad(() => {
            const { h, z } = source.model.call(batch.images); // (b, D), (b, outDim)
            return (options.z ? z : h).to("cpu");
          }),
        ),
      );
      batch.images.dispose();
      batch.indices.dispose();
      done += parts[parts.length - 1]?.size(0) ?? 0;
      progress.message(`embedding: ${done}/${n}`);
    }
    return cat(parts); // (N, D)
  });
  owned.push(all);
  checkFeaturesFinite(all, `embed ${folder ?? config.data.name}`, source.origin, options.allowNonFinite ?? false);
  const shape: [number, number] = [all.size(0), all.size(1)];
  const sidecar = options.out.replace(/\.npy$/, "") + ".json";
  const labels = data.labeled ? Array.from(data.labels.dataAsNumbers()) : null;
  const description = {
    run: runDir,
    checkpoint: source.origin,
    output: options.z ? "z" : "h",
    shape,
    source: folder ?? `${config.data.name} ${options.split ?? "train"}`,
    files: folder !== undefined ? data.files : null,
    labels,
    classes: data.classes,
    skipped: data.skipped,
  };
  // The array and its sidecar are one result: neither is left without the other.
  writeFilesAtomic([
    { path: options.out, bytes: serializeNpy(all.data() as Float32Array, shape) },
    { path: sidecar, bytes: `${JSON.stringify(description, null, 1)}\n` },
  ]);
  return { out: options.out, sidecar, shape, skipped: data.skipped };
}
