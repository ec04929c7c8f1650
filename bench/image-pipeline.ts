/**
 * The input pipeline of an image folder against the training step's consumption, for the
 * choice between the two ways to train on folders larger than memory (issue 13):
 *   mapped     decode once into a memory-mapped uint8 cache at the training resolution
 *              (what loadImageFolder does), then every epoch reads batches from the map;
 *   streaming  decode and resize every batch on sharp's thread pool, the next batch decoding
 *              while the current step runs (a one-batch prefetch queue).
 * On the CIFAR-10 folder (train split), at each --sizes side, each in its own process: the
 * decode rate alone (what a streaming producer can give with the whole machine); then, after
 * the step alone on a batch in memory, training steps fed by the mapped cache (with one pass
 * of reads alone first), by the same pixels held in process memory (the design before the
 * map), and by streaming decode. Peak process memory (RssAnon) and mapped file pages
 * (RssFile) are sampled after every batch. Prints one JSON line.
 *   node dist/bench/image-pipeline.js [--sizes 32,96] [--steps 4] [--batch 256] [--decode 5000]
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load.js";
import { DataLoader, toUnitFloat } from "../src/data/loader.js";
import { decodeImages, hwcToPlanes, listImages, loadImageFolder } from "../src/data/image-folder.js";
import { cifar10JpgRoot } from "../src/data/shared-datasets.js";
import { buildPretraining } from "../src/recipe/pretraining.js";
import { randint, tensor } from "../src/tensor/factory.js";
import { getNumThreads, manualSeed } from "../src/tensor/runtime.js";
import { tidy } from "../src/tensor/scope.js";
import type { Tensor } from "../src/tensor/tensor.js";
import { simclrForward } from "../src/train/simclr-step.js";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "32,96" },
    steps: { type: "string", default: "4" },
    batch: { type: "string", default: "256" },
    decode: { type: "string", default: "5000" },
    child: { type: "string" },
  },
});
const steps = Number(values.steps);
const batch = Number(values.batch);

function memory(): { anon: number; file: number } {
  const status = readFileSync("/proc/self/status", "utf-8");
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { anon: field("RssAnon"), file: field("RssFile") };
}
class Peak {
  anon = 0;
  file = 0;
  sample(): void {
    const m = memory();
    this.anon = Math.max(this.anon, m.anon);
    this.file = Math.max(this.file, m.file);
  }
  get mib() {
    return { peak_rss_anon_mib: Math.round(this.anon / 2 ** 20), peak_rss_file_mib: Math.round(this.file / 2 ** 20) };
  }
}

const root = join(cifar10JpgRoot(), "train");
const files = listImages(root).map((f) => join(root, f));

/** Decodes `paths` to one uint8 (n, 3, size, size) tensor on sharp's threads. */
async function decodeBatch(paths: string[], size: number): Promise<Tensor> {
  const imageBytes = 3 * size * size;
  const pixels = new Uint8Array(paths.length * imageBytes);
  const failed = await decodeImages(paths, size, 3, (i, hwc) => hwcToPlanes(hwc, pixels.subarray(i * imageBytes, (i + 1) * imageBytes), 3));
  const bad = failed.findIndex((reason) => reason !== null);
  if (bad >= 0) throw new Error(`${paths[bad]}: ${failed[bad]}`);
  return tensor(pixels, { shape: [paths.length, 3, size, size] }); // (n, 3, size, size)
}

type Mode = "decode" | "mapped" | "memory" | "streaming";

/** One measurement, in this process: its peak memory is its own. */
async function child(size: number, mode: Mode): Promise<Record<string, unknown>> {
  if (mode === "decode") {
    // the most a streaming producer gets from this machine: decoding alone, on every core
    const sample = files.slice(0, Number(values.decode));
    const t0 = performance.now();
    (await decodeBatch(sample, size)).dispose();
    return { decode_images_per_s: Math.round(sample.length / ((performance.now() - t0) / 1000)) };
  }
  const config = loadConfig({
    set: ["data.name=cifar10-jpg", `data.size=${size}`, "model.width=16", "augment.preset=cifar", `train.batchSize=${batch}`, "optim.lr=0.1"],
  });
  manualSeed(0);
  const { model, optimizer, augment, step: stepOptions } = buildPretraining(config, { inChannels: 3, device: "cpu" });
  const train = (images: Tensor) => {
    tidy(() => simclrForward(model, augment, images, stepOptions).backward());
    optimizer.step();
    optimizer.zeroGrad();
  };
  const peak = new Peak();
  const out: Record<string, unknown> = {};

  // the step alone, on one batch already in memory: what the pipeline must keep up with
  const first = tidy(() => toUnitFloat(randint(0, 256, [batch, 3, size, size], { dtype: "uint8" }))); // (B, 3, S, S)
  train(first); // warm-up
  let t0 = performance.now();
  for (let s = 0; s < steps; s++) train(first);
  out.step_alone_images_per_s = Number(((steps * batch) / ((performance.now() - t0) / 1000)).toFixed(1));
  first.dispose();

  if (mode === "streaming") {
    const order = (k: number) => Array.from({ length: batch }, (_, i) => files[(k * batch + i * 104729) % files.length] as string);
    t0 = performance.now();
    let next = decodeBatch(order(0), size);
    for (let s = 0; s < steps; s++) {
      const raw = await next;
      if (s + 1 < steps) next = decodeBatch(order(s + 1), size); // decodes on sharp's threads while this step runs
      const images = tidy(() => toUnitFloat(raw)); // (B, 3, S, S)
      raw.dispose();
      train(images);
      images.dispose();
      peak.sample();
    }
    out.step_fed_images_per_s = Number(((steps * batch) / ((performance.now() - t0) / 1000)).toFixed(1));
  } else {
    t0 = performance.now();
    const folder = await loadImageFolder({ path: root, size });
    out.cache_load_s = Number(((performance.now() - t0) / 1000).toFixed(2));
    out.cache_mib = Math.round(folder.images.numel / 2 ** 20);
    let images = folder.images;
    if (mode === "memory") {
      images = folder.images.clone(); // the whole set in process memory, as before the map
      folder.images.dispose();
    }
    const loader = new DataLoader({ images }, { batchSize: batch });
    if (mode === "mapped") {
      // one pass of reads alone (pages come from the page cache, or the disk when cold)
      t0 = performance.now();
      let read = 0;
      while (!loader.epochDone) {
        const b = loader.next();
        read += b.images.size(0);
        b.images.dispose();
        b.indices.dispose();
        peak.sample();
      }
      out.read_images_per_s = Math.round(read / ((performance.now() - t0) / 1000));
      loader.nextEpoch();
    }
    t0 = performance.now();
    for (let s = 0; s < steps; s++) {
      const b = loader.next();
      train(b.images);
      b.images.dispose();
      b.indices.dispose();
      peak.sample();
    }
    out.step_fed_images_per_s = Number(((steps * batch) / ((performance.now() - t0) / 1000)).toFixed(1));
    loader.dispose();
    images.dispose();
    folder.labels.dispose();
  }
  optimizer.dispose();
  return { ...out, ...peak.mib, peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024) };
}

if (values.child !== undefined) {
  const [size, mode] = values.child.split(":") as [string, Mode];
  console.log(JSON.stringify(await child(Number(size), mode)));
} else {
  const results: Record<string, unknown>[] = [];
  const self = fileURLToPath(import.meta.url);
  for (const size of values.sizes.split(",").map(Number)) {
    // build the cache first (timed: this is the one-off decode of the mapped design)
    const t0 = performance.now();
    const folder = await loadImageFolder({
      path: root,
      size,
      onProgress: (done, total) => done % 10000 === 0 && process.stderr.write(`${size}px: decoded ${done}/${total}\n`),
    });
    const build = { cache_build_s: Number(((performance.now() - t0) / 1000).toFixed(1)), cache_was_present: folder.fromCache };
    folder.images.dispose();
    folder.labels.dispose();
    const row: Record<string, unknown> = { size, images: files.length, ...build };
    for (const mode of ["decode", "mapped", "memory", "streaming"] as const) {
      process.stderr.write(`${size}px: ${mode}\n`);
      row[mode] = JSON.parse(
        execFileSync(process.execPath, [self, "--child", `${size}:${mode}`, "--steps", String(steps), "--batch", String(batch), "--decode", values.decode], {
          encoding: "utf-8",
        })
          .trim()
          .split("\n")
          .pop() as string,
      );
    }
    results.push(row);
  }
  console.log(JSON.stringify({ bench: "image-pipeline", batch, steps, threads: getNumThreads(), results }));
}
