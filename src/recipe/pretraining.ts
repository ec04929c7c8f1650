/**
 * Everything a SimCLR pretraining run is built from, out of its config, in one call: the
 * model, optimizer and augmentation (recipe.ts), the loader, the schedule, and the options of
 * the step, the loop and data parallelism. This is the one place where the train, loss and
 * dist keys become those options; the loop (train/pretrain.ts) and the step receive them and
 * read no config key. The pretraining job, `simclr bench` and the benchmarks build through it.
 */
import type { SimCLRAugment } from "../augment/simclr.js";
import { flattenConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { DataLoader, type LoaderData } from "../data/loader.js";
import type { SimCLRModel } from "../models/simclr.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { MemoryFormat } from "../tensor/tensor.js";
import { buildAugment, buildModel, buildOptimizer, pretrainSchedule, type Schedule } from "./recipe.js";

/** The training step's options (train/contrastive.ts's SimclrStepOptions, less the data-parallel shard). */
export interface StepSettings {
  temperature: number;
  normalize: boolean;
  precision: "fp32" | "bf16";
  memoryFormat: MemoryFormat;
  chunkSize: number | null;
}

/** The loop's options besides the step's. */
export interface LoopSettings {
  /** Write a metrics line every this many steps (and at the end of each epoch). */
  logEvery: number;
  /** Save a checkpoint every this many epochs (and at the end). */
  checkpointEvery: number;
  /** The config as flat key-value pairs, stored in every checkpoint (resume reads it back). */
  checkpointConfig: Record<string, unknown>;
}

/** Gradient averaging across ranks (train/data-parallel.ts). */
export interface DataParallelSettings {
  bucketBytes: number;
  /** All-reduce buckets from backward hooks while backward runs; off under GradCache, whose gradients are complete only after the last chunk. */
  overlap: boolean;
}

export function stepSettings(config: Pick<Config, "train" | "loss">): StepSettings {
  return {
    temperature: config.loss.temperature,
    normalize: config.loss.normalize,
    precision: config.train.precision,
    memoryFormat: config.train.memoryFormat,
    chunkSize: config.train.chunkSize,
  };
}

export function loopSettings(config: Config): LoopSettings {
  return {
    logEvery: config.train.logEvery,
    checkpointEvery: config.train.checkpointEvery,
    checkpointConfig: Object.fromEntries(flattenConfig(config)),
  };
}

export function dataParallelSettings(config: Pick<Config, "dist" | "train">): DataParallelSettings {
  return { bucketBytes: config.dist.bucketMiB * 2 ** 20, overlap: config.dist.overlap && config.train.chunkSize === null };
}

export interface PretrainingOptions {
  /** Channels of the images (1 or 3). */
  inChannels: number;
  device: string;
  /** With data: the loader over it (this rank's slice of each global batch) and the schedule. */
  data?: LoaderData;
  rank?: number;
  worldSize?: number;
}

export interface Pretraining {
  /** In training mode, on the device, in train.memoryFormat. */
  model: SimCLRModel;
  optimizer: Optimizer;
  augment: SimCLRAugment;
  step: StepSettings;
  loop: LoopSettings;
  dataParallel: DataParallelSettings;
}

/**
 * Builds a pretraining run's parts. The order of the draws from the seeded RNG is part of the
 * recipe: the model first, then the loader's first permutation.
 */
export function buildPretraining(config: Config, options: PretrainingOptions & { data: LoaderData }): Pretraining & { loader: DataLoader; schedule: Schedule };
export function buildPretraining(config: Config, options: PretrainingOptions): Pretraining;
export function buildPretraining(config: Config, options: PretrainingOptions): Pretraining & { loader?: DataLoader; schedule?: Schedule } {
  const model = buildModel(config, options.inChannels).to(options.device).toMemoryFormat(config.train.memoryFormat).train();
  const optimizer = buildOptimizer(config, model.namedParameters());
  const augment = buildAugment(config);
  const parts = { model, optimizer, augment, step: stepSettings(config), loop: loopSettings(config), dataParallel: dataParallelSettings(config) };
  if (options.data === undefined) return parts;
  const loader = new DataLoader(options.data, {
    batchSize: config.train.batchSize,
    device: options.device,
    rank: options.rank ?? 0,
    worldSize: options.worldSize ?? 1,
  });
  return { ...parts, loader, schedule: pretrainSchedule(config, options.data.images.size(0)) };
}
