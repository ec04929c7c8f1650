/**
 * The recipe: what a config builds. Each config section maps onto one constructor's typed
 * options (model + head -> SimCLRModel, augment -> SimCLRAugment, optim -> the optimizer,
 * train + optim -> the learning-rate schedule), so the training and evaluation code never
 * reads a config key itself. The defaults are the paper's where it has one (section 4 and
 * Appendix B), sized for a CPU where it does not.
 */
import { SimCLRAugment, type AugmentOptions } from "../augment/simclr.js";
import type { Config } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { isMobileNetV3Arch, isResNetArch } from "../models/encoder.js";
import { SimCLRModel, type SimCLRModelOptions } from "../models/simclr.js";
import { AdamW } from "../optim/adamw.js";
import { LARS } from "../optim/lars.js";
import type { NamedParameter, Optimizer } from "../optim/optimizer.js";
import { scaledLearningRate } from "../optim/schedule.js";
import { SGD } from "../optim/sgd.js";

/** Image shape (C, H) of the configured data set, without loading it. */
export function dataShape(config: Pick<Config, "data">): [number, number] {
  switch (config.data.name) {
    case "fashion-mnist":
    case "mnist":
      return [1, 28];
    case "cifar10":
    case "cifar100":
      return [3, 32];
    case "cifar10-jpg":
    case "image-folder":
      return [config.data.channels, config.data.size];
  }
}

/**
 * The model and head sections as the SimCLR model's options; inChannels comes from the data.
 * A key that does not apply to model.arch at a value other than its default is refused.
 */
export function modelOptions(config: Pick<Config, "model" | "head">, inChannels: number): SimCLRModelOptions {
  const { model, head } = config;
  if (model.widthMult !== 1 && !isMobileNetV3Arch(model.arch)) {
    throw new ConfigError(
      `model.widthMult ${model.widthMult} applies to mobilenet_v3_small and mobilenet_v3_large, not ${model.arch}${isResNetArch(model.arch) ? " (set model.width)" : ""}`,
      "model.widthMult",
    );
  }
  return {
    arch: model.arch,
    ...(isResNetArch(model.arch) ? { width: model.width, zeroInitResidual: model.zeroInitResidual } : {}),
    ...(isMobileNetV3Arch(model.arch) ? { widthMult: model.widthMult } : {}),
    cifarStem: model.cifarStem,
    inChannels,
    headLayers: head.layers,
    outDim: head.outDim,
  };
}

/** Encoder f and projection head g at initialisation (draws from libtorch's global RNG). */
export function buildModel(config: Pick<Config, "model" | "head">, inChannels: number): SimCLRModel {
  return new SimCLRModel(modelOptions(config, inChannels));
}

/** The augment section as the augmentation's options (null: the preset's value). */
export function augmentOptions(config: Pick<Config, "augment">): Partial<AugmentOptions> & { preset: Config["augment"]["preset"] } {
  const a = config.augment;
  return {
    preset: a.preset,
    size: a.size,
    ...(a.jitterStrength !== null ? { jitterStrength: a.jitterStrength } : {}),
    ...(a.cropMinScale !== null ? { cropScale: [a.cropMinScale, 1] as [number, number] } : {}),
    ...(a.blurProbability !== null ? { blurProbability: a.blurProbability } : {}),
    // The switches of Figure 5's ablation: each transformation off on its own. No crop is the
    // whole image (area 1, aspect 1: the images are square), resized to the view's side.
    ...(a.crop ? {} : { cropScale: [1, 1] as [number, number], cropRatio: [1, 1] as [number, number] }),
    ...(a.flip ? {} : { flipProbability: 0 }),
    ...(a.color ? {} : { jitterProbability: 0 }),
    ...(a.grayscale ? {} : { grayscaleProbability: 0 }),
    ...(a.blur ? {} : { blurProbability: 0 }),
  };
}

/** The SimCLR augmentation T (section 3): crop + flip, color distortion, blur. */
export function buildAugment(config: Pick<Config, "augment">): SimCLRAugment {
  return new SimCLRAugment(augmentOptions(config));
}

/** Crop + flip only: the augmentation of fine-tuning and linear evaluation (Appendix B.5/B.6). */
export function cropFlipAugment(): SimCLRAugment {
  return new SimCLRAugment({ preset: "cifar", jitterProbability: 0, grayscaleProbability: 0, blurProbability: 0 });
}

/** The optim section's optimizer over `params`; its learning rate is set by the schedule each step. */
export function buildOptimizer(config: Pick<Config, "optim">, params: NamedParameter[]): Optimizer {
  const o = config.optim;
  switch (o.name) {
    case "lars":
      return new LARS(params, { lr: 0, momentum: o.momentum, weightDecay: o.weightDecay });
    case "sgd":
      return new SGD(params, { lr: 0, momentum: o.momentum, weightDecay: o.weightDecay });
    case "adamw":
      return new AdamW(params, { lr: 0, weightDecay: o.weightDecay });
  }
}

/** The pretraining schedule: linear warm-up, then cosine decay to 0 (section 4, Appendix B.1). */
export interface Schedule {
  /** Optimizer steps per epoch (the last partial batch is dropped). */
  stepsPerEpoch: number;
  totalSteps: number;
  warmupSteps: number;
  /** Peak learning rate: optim.lr scaled by the batch size (linear: x B/256; sqrt: x sqrt(B)). */
  peak: number;
}

/**
 * The schedule of pretraining on `images` images. The run's length is train.epochs, or with
 * train.budgetViews that many augmented views (2 per image per step), rounded to whole steps;
 * a budget may end inside an epoch. Warm-up is train.warmupFraction of the steps, else
 * train.warmupEpochs, else the paper's 10 epochs capped at a tenth of the run.
 */
export function pretrainSchedule(config: Pick<Config, "train" | "optim">, images: number): Schedule {
  const b = config.train.batchSize;
  const stepsPerEpoch = Math.floor(images / b);
  if (stepsPerEpoch === 0) throw new ConfigError(`the training set has ${images} images, fewer than train.batchSize ${b}`, "train.batchSize");
  const { budgetViews, warmupFraction, warmupEpochs } = config.train;
  const totalSteps = budgetViews === null ? stepsPerEpoch * config.train.epochs : Math.max(1, Math.round(budgetViews / (2 * b)));
  const warmupSteps =
    warmupFraction !== null
      ? Math.round(warmupFraction * totalSteps)
      : warmupEpochs !== null
        ? Math.min(totalSteps, Math.round(warmupEpochs * stepsPerEpoch))
        : Math.round(Math.min(10 * stepsPerEpoch, totalSteps / 10));
  return {
    stepsPerEpoch,
    totalSteps,
    warmupSteps,
    peak: scaledLearningRate(config.optim.lr, b, config.optim.lrScaling),
  };
}

/** Options of a supervised training run (fine-tuning, the baseline, the paper's linear protocol). */
export interface ClassifierTraining {
  epochs: number;
  batchSize: number;
  /** Peak learning rate (already scaled by the batch size); cosine decay to 0, no warm-up. */
  lr: number;
  weightDecay: number;
}

/** The eval section's linear protocol (Appendix B.6): Nesterov SGD, lr 0.1 x B/256, 90 epochs. */
export function linearEvalTraining(config: Pick<Config, "eval">): ClassifierTraining {
  const e = config.eval;
  return { epochs: e.epochs, batchSize: e.batchSize, lr: scaledLearningRate(e.lr, e.batchSize, "linear"), weightDecay: e.weightDecay };
}

/**
 * The finetune section (Appendix B.5): lr 0.05 x B/256 with B the batch actually used (at most
 * the subset's size), 60 epochs for 1% of the labels or less and 30 above.
 */
export function finetuneTraining(config: Pick<Config, "finetune">, subsetSize: number, labelFraction: number): ClassifierTraining {
  const f = config.finetune;
  const batch = Math.min(f.batchSize, subsetSize);
  return { epochs: f.epochs ?? (labelFraction <= 0.01 ? 60 : 30), batchSize: batch, lr: scaledLearningRate(f.lr, batch, "linear"), weightDecay: f.weightDecay };
}

/**
 * The supervised section: the baseline trained from scratch on `images` training images, for
 * supervised.epochs or, with supervised.budgetViews, as many views as a SimCLR arm's budget
 * (one view per image per step, whole epochs).
 */
export function supervisedTraining(config: Pick<Config, "supervised">, images: number): ClassifierTraining {
  const s = config.supervised;
  const epochs = s.budgetViews === null ? s.epochs : Math.max(1, Math.round(s.budgetViews / Math.max(1, images)));
  return { epochs, batchSize: s.batchSize, lr: scaledLearningRate(s.lr, s.batchSize, "linear"), weightDecay: s.weightDecay };
}
