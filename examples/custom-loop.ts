/**
 * A SimCLR training loop written from the package's public pieces only, the way lightly's
 * examples/pytorch/simclr.py writes one from its building blocks: an encoder f and projection
 * head g (SimCLRModel), two augmented views of every image (SimCLRAugment), NT-Xent on z, and
 * LARS under linear warm-up and cosine decay (Chen et al. 2020, Algorithm 1 and section 4).
 * `simclr pretrain` adds run directories, checkpoints, monitors and data parallelism around
 * the same pieces. In a project that depends on this package, import from "simclr".
 *   node dist/examples/custom-loop.js [--epochs 2] [--images 512]
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import {
  DataLoader,
  LARS,
  SimCLRAugment,
  SimCLRModel,
  cat,
  liveTensorCount,
  manualSeed,
  ntXentLoss,
  randint,
  scaledLearningRate,
  tidy,
  warmupCosine,
  type AugmentOptions,
  type Tensor,
} from "../src/index.js";

export interface CustomLoopOptions {
  epochs: number;
  batchSize: number;
  /** LARS's base learning rate, scaled by batchSize / 256 (default 4.8 / 16 = 0.3, the paper's). */
  lr?: number;
  /** Changes to the augmentation preset's options (e.g. { cropScale: [0.5, 1] }). */
  augment?: Partial<AugmentOptions>;
  /** Called after every step with its loss and contrastive accuracy. */
  onStep?: (step: number, loss: number, accuracy: number) => void;
}

/** Pretrains a small ResNet-18 on uint8 `images` (N, C, S, S); returns the model (the caller disposes it). */
export function trainSimclr(images: Tensor, options: CustomLoopOptions): SimCLRModel {
  const [channels, side] = [images.size(1), images.size(2)];
  const model = new SimCLRModel({ arch: "resnet18", width: 16, cifarStem: true, inChannels: channels, headLayers: 2, outDim: 128 }).train();
  const augment = new SimCLRAugment({ preset: channels === 1 ? "grayscale" : "cifar", size: side, ...options.augment });
  const optimizer = new LARS(model.namedParameters(), { lr: 0, momentum: 0.9, weightDecay: 1e-6 });
  const loader = new DataLoader({ images }, { batchSize: options.batchSize }); // batches as float in [0, 1]
  const totalSteps = options.epochs * loader.batchesPerEpoch;
  const peak = scaledLearningRate(options.lr ?? 0.3, options.batchSize, "linear"); // lr x B / 256
  try {
    for (let step = 0; step < totalSteps; step++) {
      optimizer.lr = warmupCosine(step, { peak, totalSteps, warmupSteps: Math.round(totalSteps / 10) });
      const { loss, accuracy } = tidy(() => {
        const x = loader.next().images; // (B, C, S, S)
        const views = cat([augment.view(x), augment.view(x)]); // (2B, C, S, S): first views, then second
        const { z } = model.call(views); // (2B, 128)
        const out = ntXentLoss(z, { temperature: 0.5 });
        out.loss.backward();
        return { loss: out.loss.item(), accuracy: out.accuracy };
      });
      optimizer.step();
      optimizer.zeroGrad();
      if (loader.epochDone) loader.nextEpoch();
      options.onStep?.(step, loss, accuracy);
    }
  } finally {
    loader.dispose();
    optimizer.dispose();
  }
  return model;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { epochs: { type: "string", default: "2" }, images: { type: "string", default: "512" } } });
  manualSeed(0);
  const before = liveTensorCount();
  const images = randint(0, 256, [Number(values.images), 3, 32, 32], { dtype: "uint8" }); // stand-in for a data set
  const model = trainSimclr(images, {
    epochs: Number(values.epochs),
    batchSize: 128,
    onStep: (s, l, a) => console.log(`step ${s + 1} loss ${l.toFixed(4)} acc ${a.toFixed(3)}`),
  });
  images.dispose();
  model.dispose();
  console.log(`tensors alive after the loop: ${liveTensorCount() - before}`);
}
