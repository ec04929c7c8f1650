/**
 * Fashion-MNIST (Xiao et al. 2017): 28x28 grayscale images of clothing in 10 classes,
 * 60,000 train and 10,000 test, in IDX files. The default path is where Debian's
 * `dataset-fashion-mnist` package installs them (scripts/setup.sh installs it). Plain MNIST
 * files have the same layout and load the same way.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tensor } from "../tensor/factory.js";
import type { Tensor } from "../tensor/tensor.js";
import { readIdx } from "./idx.js";
import { DataError } from "../errors.js";

export const FASHION_MNIST_DEFAULT_PATH = "/usr/share/datasets/fashion-mnist";

export const FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"] as const;

export interface LabeledImages {
  /** uint8 pixels, (N, C, H, W). */
  images: Tensor;
  /** int64 class indices, (N). */
  labels: Tensor;
  classes: readonly string[];
}

export interface IdxDatasetOptions {
  /** Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. */
  path?: string;
  split?: "train" | "test";
  /** Use only the first N images. */
  limit?: number;
}

function findFile(folder: string, base: string): string {
  for (const name of [`${base}.gz`, base]) {
    const p = join(folder, name);
    if (existsSync(p)) return p;
  }
  const hint = folder === FASHION_MNIST_DEFAULT_PATH ? " Install Debian's dataset-fashion-mnist package (scripts/setup.sh does) or set data.path." : "";
  throw new DataError(join(folder, base), `not found (looked for ${base}.gz and ${base}).${hint}`);
}

/** Loads an MNIST-layout IDX data set: images (N, 1, 28, 28) uint8 and labels (N) int64. */
export function loadIdxDataset(options: IdxDatasetOptions = {}, classes: readonly string[] = FASHION_MNIST_CLASSES): LabeledImages {
  const folder = options.path ?? FASHION_MNIST_DEFAULT_PATH;
  const prefix = (options.split ?? "train") === "train" ? "train" : "t10k";
  const imagesPath = findFile(folder, `${prefix}-images-idx3-ubyte`);
  const labelsPath = findFile(folder, `${prefix}-labels-idx1-ubyte`);
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.shape.length !== 3) throw new DataError(imagesPath, `expected 3 dimensions (N, H, W), got [${images.shape.join(", ")}]`);
  if (labels.shape.length !== 1) throw new DataError(labelsPath, `expected 1 dimension (N), got [${labels.shape.join(", ")}]`);
  const [n, h, w] = images.shape as [number, number, number];
  if (h === 0 || w === 0) throw new DataError(imagesPath, `images of ${h}x${w} pixels (shape [${images.shape.join(", ")}]): an image needs at least one pixel`);
  if (labels.shape[0] !== n) throw new DataError(labelsPath, `${labels.shape[0]} labels for ${n} images in ${imagesPath}`);
  for (let i = 0; i < labels.data.length; i++) {
    if ((labels.data[i] as number) >= classes.length)
      throw new DataError(labelsPath, `label ${labels.data[i]} at index ${i} is not a class (0..${classes.length - 1})`);
  }
  const limit = options.limit === undefined ? n : Math.min(n, options.limit);
  return {
    images: tensor(images.data.subarray(0, limit * h * w), { shape: [limit, 1, h, w] }),
    labels: tensor(labels.data.subarray(0, limit), { dtype: "int64" }),
    classes,
  };
}
