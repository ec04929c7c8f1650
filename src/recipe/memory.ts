/**
 * The memory a pretraining config needs, estimated from the config alone before any data is
 * loaded or any tensor allocated, so that `model.width=1000000` or `augment.size=100000` is
 * refused with the key named instead of failing inside libtorch's allocator minutes later.
 *
 * The estimate counts, in bytes:
 *   model       parameters, their gradients and the optimizer's buffers (ResNet counted
 *               analytically: the same layers resnet.ts builds; BN buffers included)
 *   activations what autograd keeps for backward over the 2B views: ~3 floats per element of
 *               every conv output (conv, BN and ReLU outputs; gradients reuse freed memory)
 *   augment     the views and the augmentation's intermediates (~6 floats a view pixel)
 *   loss        NT-Xent's (2B)^2 similarity matrix and the tensors derived from it (~6)
 *   data        the decoded training set as uint8, for the data sets held in memory (an image
 *               folder is a memory-mapped cache file: its pages are the kernel's to drop)
 * It is meant to be right within a factor of about two (measured in RELIABILITY.md): its use
 * is telling 3 GB from 3 TB, not tuning a batch size.
 */
import type { Config } from "../config/schema.js";
import { SCHEMA } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { ARCH_DEPTH, dataShape } from "./recipe.js";
import { trainingImageCount } from "../data/datasets.js";
import { availableMemory } from "../io/host-memory.js";
import { formatBytes } from "../io/format.js";

/** Blocks per stage and block kind of each depth (He et al. 2016, table 1). */
const STAGES: Record<number, { blocks: number[]; bottleneck: boolean }> = {
  18: { blocks: [2, 2, 2, 2], bottleneck: false },
  34: { blocks: [3, 4, 6, 3], bottleneck: false },
  50: { blocks: [3, 4, 6, 3], bottleneck: true },
  101: { blocks: [3, 4, 23, 3], bottleneck: true },
  152: { blocks: [3, 8, 36, 3], bottleneck: true },
};

/** Data sets read through a memory-mapped cache (data/image-cache.ts) rather than held in memory. */
const MAPPED_DATA: readonly Config["data"]["name"][] = ["image-folder", "cifar10-jpg"];

export interface MemoryEstimate {
  /** Bytes by part: model, activations, augment, loss, data. */
  parts: Record<"model" | "activations" | "augment" | "loss" | "data", number>;
  total: number;
  /** Parameters of encoder + head (exact for the ResNets built here). */
  parameters: number;
}

/** Parameter count and per-image conv output elements of the encoder and head. */
function modelShape(config: Pick<Config, "model" | "head">, channels: number, side: number): { parameters: number; bnParameters: number; activations: number } {
  const { blocks, bottleneck } = STAGES[ARCH_DEPTH[config.model.arch]] as { blocks: number[]; bottleneck: boolean };
  const w = config.model.width;
  let parameters = 0;
  let bnParameters = 0;
  let activations = 0;
  const conv = (cin: number, cout: number, k: number, s: number) => {
    parameters += cin * cout * k * k;
    bnParameters += 2 * cout;
    activations += cout * s * s;
  };
  let s = config.model.cifarStem ? side : Math.ceil(side / 2);
  conv(channels, w, config.model.cifarStem ? 3 : 7, s);
  if (!config.model.cifarStem) s = Math.ceil(s / 2);
  let cin = w;
  blocks.forEach((count, stage) => {
    const planes = w * 2 ** stage;
    const out = bottleneck ? 4 * planes : planes;
    for (let i = 0; i < count; i++) {
      const stride = i === 0 && stage > 0 ? 2 : 1;
      const sOut = Math.ceil(s / stride);
      if (bottleneck) {
        conv(cin, planes, 1, s);
        conv(planes, planes, 3, sOut);
        conv(planes, out, 1, sOut);
      } else {
        conv(cin, planes, 3, sOut);
        conv(planes, planes, 3, sOut);
      }
      if (stride !== 1 || cin !== out) conv(cin, out, 1, sOut);
      cin = out;
      s = sOut;
    }
  });
  // The head: Linear (no bias) + BN per layer; the last BN has no shift.
  const d = cin;
  for (let i = 0; i < config.head.layers; i++) {
    const last = i === config.head.layers - 1;
    const outF = last ? config.head.outDim : d;
    parameters += d * outF;
    bnParameters += last ? outF : 2 * outF;
    activations += 3 * outF;
  }
  return { parameters: parameters + bnParameters, bnParameters, activations };
}

/** The bytes a pretraining run of `config` needs (see the file's comment for what is counted). */
export function estimatePretrainMemory(config: Pick<Config, "data" | "model" | "head" | "augment" | "train" | "optim">): MemoryEstimate {
  // (the augmentation and the loss are over the whole batch even with chunks)
  const [channels, side] = dataShape(config);
  const view = config.augment.size ?? side;
  const views = 2 * config.train.batchSize;
  // with GradCache (train.chunkSize) only one chunk's graph is alive at a time
  const graphViews = Math.min(views, config.train.chunkSize ?? views);
  const shape = modelShape(config, channels, view);
  const optimizerBuffers = config.optim.name === "adamw" ? 2 : 1;
  const images = trainingImageCount(config.data) ?? 0;
  const parts = {
    model: 4 * shape.parameters * (2 + optimizerBuffers),
    activations: 4 * 3 * shape.activations * graphViews,
    augment: 4 * 6 * views * channels * view * view + config.train.batchSize * channels * side * side,
    loss: 4 * 6 * views * views,
    data: MAPPED_DATA.includes(config.data.name) ? 0 : images * channels * side * side,
  };
  return { parts, total: Object.values(parts).reduce((a, b) => a + b, 0), parameters: shape.parameters };
}

const KEYS_TO_BLAME = ["model.width", "augment.size", "data.size", "train.batchSize", "head.outDim", "head.layers", "model.arch", "data.limit"] as const;

/**
 * Refuses a pretraining config whose estimate exceeds `available` bytes (default: this
 * machine's memory), with a ConfigError naming the key whose default would save the most.
 * Runs on a CUDA device skip the check of what lives on the GPU (model, activations, loss).
 */
export function checkPretrainMemory(config: Config, available = availableMemory()): MemoryEstimate {
  const estimate = estimatePretrainMemory(config);
  const onHost =
    config.train.device === "cpu" ? estimate.total : estimate.parts.data + config.train.batchSize * dataShape(config)[0] * dataShape(config)[1] ** 2;
  if (onHost <= available) return estimate;
  let blame: { key: string; saves: number } = { key: "train.batchSize", saves: -1 };
  for (const key of KEYS_TO_BLAME) {
    const [section, name] = key.split(".") as [keyof Config, string];
    const fallback = key === "data.limit" ? 1000 : SCHEMA[key].default;
    const changed = { ...config, [section]: { ...config[section], [name]: fallback } } as Config;
    const saves = estimate.total - estimatePretrainMemory(changed).total;
    if (saves > blame.saves) blame = { key, saves };
  }
  const [section, name] = blame.key.split(".") as [keyof Config, string];
  const value = (config[section] as Record<string, unknown>)[name];
  const parts = Object.entries(estimate.parts)
    .filter(([, b]) => b > 0)
    .map(([part, b]) => `${part} ${formatBytes(b)}`)
    .join(", ");
  throw new ConfigError(
    `this config needs about ${formatBytes(onHost)} of memory (${parts}), more than the ${formatBytes(available)} this machine has; ` +
      `most of it comes from ${blame.key}=${String(value)} (lower it; the default is ${String(SCHEMA[blame.key as keyof typeof SCHEMA].default ?? "unset")})`,
    blame.key,
  );
}
