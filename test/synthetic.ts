/**
 * A tiny labelled data set the tests generate, so end-to-end tests never depend on an
 * installed data set: 28x28 grayscale images in 10 classes, written as IDX files (the
 * Fashion-MNIST layout, read by the real loader with data.name=mnist). Class c is a sine
 * grating at orientation 18c degrees whose mean brightness grows with c, with a random
 * phase and pixel noise: easy to tell apart, but not identical within a class.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rng } from "./helpers.js";

export const SYNTHETIC_CLASSES = 10;

function idx(shape: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header.writeUInt8(0x08, 2);
  header.writeUInt8(shape.length, 3);
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

function split(n: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const random = rng(seed);
  const side = 28;
  const images = new Uint8Array(n * side * side);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % SYNTHETIC_CLASSES; // interleaved: every prefix is nearly balanced
    labels[i] = c;
    const angle = (c * Math.PI) / SYNTHETIC_CLASSES;
    const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
    const phase = random() * 2 * Math.PI;
    const mean = 60 + 12 * c;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const wave = Math.sin(((x * dx + y * dy) * 2 * Math.PI) / 7 + phase);
        const v = mean + 50 * wave + 30 * (random() - 0.5);
        images[i * side * side + y * side + x] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { images, labels };
}

/** Writes train (n) and test (n / 4) splits into `dir` (created); returns `dir`. */
export function writeSyntheticIdx(dir: string, n = 512, seed = 1): string {
  mkdirSync(dir, { recursive: true });
  for (const [prefix, count, s] of [
    ["train", n, seed],
    ["t10k", Math.max(SYNTHETIC_CLASSES, Math.floor(n / 4)), seed + 1],
  ] as const) {
    const { images, labels } = split(count, s);
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), idx([count, 28, 28], images));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), idx([count], labels));
  }
  return dir;
}

/**
 * Config overrides for a small, fast run on the synthetic data in `dataDir`: ResNet-18 at
 * width 4, batch 64, 2 epochs, a metrics line every step.
 */
export function syntheticSet(dataDir: string, extra: string[] = []): string[] {
  return [
    "data.name=mnist",
    `data.path=${dataDir}`,
    "model.width=4",
    "train.batchSize=64",
    "train.epochs=2",
    "train.warmupEpochs=0.5",
    "train.logEvery=1",
    "monitor.knnSamples=400",
    ...extra,
  ];
}
