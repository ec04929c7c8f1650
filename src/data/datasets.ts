/**
 * One entry point for every data set kind the config names (data.name), returning uint8
 * images (N, C, H, W) with int64 labels (-1 where a data set has none).
 */
import { cifar10JpgRoot } from "./shared-datasets.js";
import { loadCifarBinary } from "./cifar.js";
import { FASHION_MNIST_DEFAULT_PATH, loadIdxDataset, type LabeledImages } from "./fashion-mnist.js";
import { loadImageFolder } from "./image-folder.js";
import { join } from "node:path";
import { ConfigError } from "../errors.js";

export type DatasetName = "fashion-mnist" | "mnist" | "cifar10" | "cifar100" | "cifar10-jpg" | "image-folder";

export interface DatasetOptions {
  name: DatasetName;
  path: string | null;
  limit: number | null;
  /** image-folder: resize side and channels. */
  size: number;
  channels: number;
  skipBad: boolean;
}

export interface LoadedDataset extends LabeledImages {
  /** Whether labels are real (false for a flat image folder). */
  labeled: boolean;
  /** Where it came from, for logs. */
  description: string;
  /** Images left out by skipBad. */
  skipped: number;
  /** Whether the data set has a separate test split (an image folder has one folder only). */
  hasTestSplit: boolean;
}

/** Images in each release's training split, as published; image folders have no fixed size. */
const RELEASE_TRAIN_IMAGES: Partial<Record<DatasetName, number>> = {
  "fashion-mnist": 60_000,
  mnist: 60_000,
  cifar10: 50_000,
  cifar100: 50_000,
  "cifar10-jpg": 50_000,
};

/** Training images without reading the data: the release's size capped by data.limit; null when unknown (an image folder without a limit). */
export function trainingImageCount(options: Pick<DatasetOptions, "name" | "limit">): number | null {
  const n = RELEASE_TRAIN_IMAGES[options.name] ?? null;
  return options.limit === null ? n : n === null ? options.limit : Math.min(n, options.limit);
}

const MNIST_CLASSES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

function requirePath(options: DatasetOptions): string {
  if (options.path === null) throw new ConfigError(`data.path is required for data.name ${options.name}`, "data.path");
  return options.path;
}

/**
 * Loads the train or test split of the configured data set. `load.onProgress` hears each
 * decoded image of an image folder; `load.signal` stops decoding one (the call rejects with
 * its reason). IDX and CIFAR files are read in one go.
 */
export async function loadDataset(
  options: DatasetOptions,
  split: "train" | "test",
  load: { onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {},
): Promise<LoadedDataset> {
  const limit = options.limit ?? undefined;
  switch (options.name) {
    case "fashion-mnist":
    case "mnist": {
      const path = options.path ?? (options.name === "fashion-mnist" ? FASHION_MNIST_DEFAULT_PATH : requirePath(options));
      const ds = options.name === "mnist" ? loadIdxDataset({ path, split, limit }, MNIST_CLASSES) : loadIdxDataset({ path, split, limit });
      return { ...ds, labeled: true, description: `${options.name} ${split} (${path})`, skipped: 0, hasTestSplit: true };
    }
    case "cifar10":
    case "cifar100": {
      const path = requirePath(options);
      const ds = loadCifarBinary({ path, split, limit, variant: options.name });
      return { ...ds, labeled: true, description: `${options.name} ${split} (${path})`, skipped: 0, hasTestSplit: true };
    }
    case "cifar10-jpg":
    case "image-folder": {
      const root = options.name === "cifar10-jpg" ? join(options.path ?? cifar10JpgRoot(), split) : requirePath(options);
      const channels = options.channels;
      if (channels !== 1 && channels !== 3) throw new ConfigError(`data.channels must be 1 or 3, got ${channels}`, "data.channels");
      const ds = await loadImageFolder({ path: root, size: options.size, channels, limit, skipBad: options.skipBad, ...load });
      return { ...ds, labeled: ds.labeled, description: `image folder ${root}`, skipped: ds.skipped.length, hasTestSplit: options.name === "cifar10-jpg" };
    }
  }
}
