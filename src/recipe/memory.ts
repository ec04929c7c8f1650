/**
 * The memory a pretraining config needs, estimated from the config alone before any data is
 * loaded or any tensor allocated, so that `model.width=1000000` or `augment.size=100000` is
 * refused with the key named instead of failing inside libtorch's allocator minutes later.
 *
 * The estimate counts, in bytes:
 *   model       parameters, their gradients and the optimizer's buffers (counted from the
 *               same tables the encoders are built from; BN buffers included)
 *   activations what autograd keeps for backward over the 2B views: ~3 floats per element of
 *               every conv output (conv, BN and activation outputs; gradients reuse freed
 *               memory), and one more per squeeze-and-excitation output
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
import { dataShape } from "./recipe.js";
import { isMobileNetV3Arch, isResNetArch, RESNET_DEPTH } from "../models/encoder.js";
import { invertedResidualSettings, mobileNetSqueezeChannels } from "../models/mobilenetv3.js";
import { mbConvStages } from "../models/efficientnet.js";
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
  /** Parameters of encoder + head (exact: test/recipe/memory.test.ts counts the built models). */
  parameters: number;
}

/** Parameter count and per-image conv output elements of the encoder and head. */
function modelShape(config: Pick<Config, "model" | "head">, channels: number, side: number): { parameters: number; bnParameters: number; activations: number } {
  let parameters = 0;
  let bnParameters = 0;
  let activations = 0;
  /** A conv of output side s: BN after it unless `bias` (then a bias, as the SE's 1x1 convs). */
  const conv = (cin: number, cout: number, k: number, s: number, groups = 1, bias = false) => {
    parameters += (cin / groups) * cout * k * k + (bias ? cout : 0);
    if (!bias) bnParameters += 2 * cout;
    activations += cout * s * s;
  };
  const stem = config.model.cifarStem ? side : Math.ceil(side / 2);
  const arch = config.model.arch;
  let d: number;
  if (isResNetArch(arch)) {
    d = resNetConvs(config.model.width, RESNET_DEPTH[arch], config.model.cifarStem, channels, stem, conv);
  } else {
    // MobileNetV3 and EfficientNet: expansion, depthwise, squeeze-and-excitation, projection
    const blocks = isMobileNetV3Arch(arch)
      ? invertedResidualSettings(arch, config.model.widthMult).map((b) => ({ ...b, squeeze: b.se ? mobileNetSqueezeChannels(b.expanded) : 0 }))
      : mbConvStages().flat();
    const first = blocks[0]!;
    conv(channels, first.inChannels, 3, stem);
    let s = stem;
    for (const b of blocks) {
      if (b.expanded !== b.inChannels) conv(b.inChannels, b.expanded, 1, s);
      s = Math.ceil(s / b.stride);
      conv(b.expanded, b.expanded, b.kernel, s, b.expanded);
      if (b.squeeze > 0) {
        conv(b.expanded, b.squeeze, 1, 1, 1, true);
        conv(b.squeeze, b.expanded, 1, 1, 1, true);
        activations += b.expanded * s * s; // the gated output
      }
      conv(b.expanded, b.outChannels, 1, s);
    }
    const last = blocks[blocks.length - 1]!.outChannels;
    d = (isMobileNetV3Arch(arch) ? 6 : 4) * last;
    conv(last, d, 1, s);
  }
  // The head: Linear (no bias) + BN per layer; the last BN has no shift.
  for (let i = 0; i < config.head.layers; i++) {
    const last = i === config.head.layers - 1;
    const outF = last ? config.head.outDim : d;
    parameters += d * outF;
    bnParameters += last ? outF : 2 * outF;
    activations += 3 * outF;
  }
  return { parameters: parameters + bnParameters, bnParameters, activations };
}

/** The convs of a ResNet (He et al. 2016, table 1) handed to `conv`; returns the feature size. */
function resNetConvs(
  w: number,
  depth: number,
  cifarStem: boolean,
  channels: number,
  stem: number,
  conv: (cin: number, cout: number, k: number, s: number) => void,
): number {
  const { blocks, bottleneck } = STAGES[depth] as { blocks: number[]; bottleneck: boolean };
  let s = stem;
  conv(channels, w, cifarStem ? 3 : 7, s);
  if (!cifarStem) s = Math.ceil(s / 2);
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
  return cin;
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

const KEYS_TO_BLAME = [
  "model.width",
  "model.widthMult",
  "augment.size",
  "data.size",
  "train.batchSize",
  "head.outDim",
  "head.layers",
  "model.arch",
  "data.limit",
] as const;

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
