/**
 * Timing full pretraining steps (augment both views, forward, NT-Xent, backward, optimizer)
 * on random images shaped like the configured data set, after a warm-up, and the
 * augmentation alone. The images are made in [0, 1] once, as the loader gives them.
 */
import type { Config } from "../config/schema.js";
import { toUnitFloat } from "../data/loader.js";
import { buildAugment, buildModel, buildOptimizer } from "../recipe/recipe.js";
import { randint } from "../tensor/factory.js";
import { getNumThreads, manualSeed, setNumThreads } from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import { simclrForward } from "../train/simclr-step.js";

/** Image shape (C, H) of the configured data set, without loading it. */
export function dataShape(config: Config): [number, number] {
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

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

export interface BenchResult {
  views_per_s: number;
  augment_views_per_s: number;
  step_ms: number;
  config: Record<string, unknown>;
}

export function benchSteps(config: Config, options: { steps: number; warmup: number }): BenchResult {
  if (config.train.threads !== null) setNumThreads(config.train.threads);
  manualSeed(config.train.seed);
  const device = config.train.device;
  const b = config.train.batchSize;
  const [channels, side] = dataShape(config);
  const images = keep(tidy(() => toUnitFloat(randint(0, 256, [b, channels, side, side], { dtype: "uint8", device })))); // (B, C, S, S)
  const model = buildModel(config, channels).to(device).train();
  const optimizer = buildOptimizer(config, model.namedParameters());
  optimizer.lr = 0.01;
  const augment = buildAugment(config);
  const stepOptions = { temperature: config.loss.temperature, precision: config.train.precision };

  const step = () => {
    tidy(() => simclrForward(model, augment, images, stepOptions).loss.backward());
    optimizer.step();
    optimizer.zeroGrad();
  };
  const timeIt = (fn: () => void, n: number) => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      fn();
      times.push(performance.now() - t0);
    }
    return times;
  };
  try {
    timeIt(step, options.warmup);
    const stepTimes = timeIt(step, options.steps);
    const augmentOnce = () => tidy(() => void augment.view(images));
    timeIt(augmentOnce, 3);
    const augmentTimes = timeIt(augmentOnce, Math.max(20, options.steps));
    const stepMs = median(stepTimes);
    return {
      views_per_s: Number(((2 * b) / (stepMs / 1000)).toFixed(1)),
      augment_views_per_s: Number((b / (median(augmentTimes) / 1000)).toFixed(0)),
      step_ms: Number(stepMs.toFixed(1)),
      config: { data: config.data.name, arch: config.model.arch, width: config.model.width, batch: b, image: [channels, side, side], precision: config.train.precision, threads: getNumThreads(), device },
    };
  } finally {
    images.dispose();
    optimizer.dispose();
  }
}
