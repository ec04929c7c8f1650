/** `simclr bench [--config FILE] [--set key=value ...] [--steps N] [--warmup N]` */
import { parseArgs } from "node:util";
import { getNumThreads, manualSeed, setNumThreads } from "../tensor/runtime.js";
import { randint } from "../tensor/factory.js";
import { tidy } from "../tensor/scope.js";
import type { Config } from "../config/schema.js";
import { buildAugment, buildModel, buildOptimizer, simclrLoss } from "../train/pretrain.js";
import { CONFIG_OPTIONS, UsageError, resolveConfig } from "./common.js";

export const BENCH_HELP = `simclr bench [--config FILE.yaml] [--set key=value ...] [--steps N] [--warmup N]

Times full pretraining steps (augment both views, forward, NT-Xent, backward, optimizer)
on random images shaped like the configured data set, after a warm-up, and the
augmentation alone. Prints one JSON line.`;

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
  return s[Math.floor(s.length / 2)] as number;
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...CONFIG_OPTIONS, steps: { type: "string", default: "10" }, warmup: { type: "string", default: "2" }, help: { type: "boolean" } } });
  if (values.help) {
    process.stdout.write(`${BENCH_HELP}\n`);
    return 0;
  }
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(steps) || steps < 1) throw new UsageError(`--steps must be a positive integer, got ${values.steps}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new UsageError(`--warmup must be a non-negative integer, got ${values.warmup}`);
  const config = resolveConfig(values);
  if (config.train.threads !== null) setNumThreads(config.train.threads);
  manualSeed(config.train.seed);
  const device = config.train.device;
  const b = config.train.batchSize;
  const [channels, side] = dataShape(config);
  const images = randint(0, 256, [b, channels, side, side], { dtype: "uint8", device });
  const model = buildModel(config, channels).to(device).train();
  const optimizer = buildOptimizer(config, model.namedParameters());
  optimizer.lr = 0.01;
  const augment = buildAugment(config);

  const step = () => {
    tidy(() => simclrLoss(model, augment, images, config).loss.backward());
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
  timeIt(step, warmup);
  const stepTimes = timeIt(step, steps);
  const augmentOnce = () => tidy(() => void augment.view(images));
  timeIt(augmentOnce, 3);
  const augmentTimes = timeIt(augmentOnce, Math.max(20, steps));
  const stepMs = median(stepTimes);
  process.stdout.write(
    `${JSON.stringify({
      views_per_s: Number(((2 * b) / (stepMs / 1000)).toFixed(1)),
      augment_views_per_s: Number((b / (median(augmentTimes) / 1000)).toFixed(0)),
      step_ms: Number(stepMs.toFixed(1)),
      config: { data: config.data.name, arch: config.model.arch, width: config.model.width, batch: b, image: [channels, side, side], precision: config.train.precision, threads: getNumThreads(), device },
    })}\n`,
  );
  return 0;
}
