/**
 * Training a classifier with labels: semi-supervised fine-tuning of a pretrained encoder
 * (SimCLR Appendix B.5: the whole network, Nesterov SGD, no warm-up), the paper's linear
 * evaluation (B.6: the encoder frozen, BN in inference mode) and the supervised baseline (the
 * encoder from scratch). The augmentation is the caller's (crop + flip in all three).
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import type { SimCLRAugment } from "../augment/simclr.js";
import { DataLoader, type LoaderData } from "../data/loader.js";
import type { Classifier } from "../models/classifier.js";
import { crossEntropy } from "../nn/functional.js";
import { SGD } from "../optim/sgd.js";
import { warmupCosine } from "../optim/schedule.js";
import type { ClassifierTraining } from "../recipe/recipe.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";

export interface TrainClassifierOptions extends ClassifierTraining {
  augment: SimCLRAugment;
  device: string;
  /** Train only the classifier on the frozen encoder's h, BN in inference mode (linear evaluation). */
  freezeEncoder?: boolean;
  /** After every epoch, with its mean loss, the last learning rate and the epoch's images/s. */
  onEpoch?: (epoch: number, loss: number, stats: { lr: number; imagesPerSecond: number }) => void;
}

/** Trains `model` on labelled uint8 images with Nesterov SGD and a cosine schedule. */
export async function trainClassifier(model: Classifier, data: Required<LoaderData>, options: TrainClassifierOptions): Promise<void> {
  const n = data.images.size(0);
  const loader = new DataLoader(data, { batchSize: Math.min(options.batchSize, n), device: options.device });
  const totalSteps = loader.batchesPerEpoch * options.epochs;
  const frozen = options.freezeEncoder ?? false;
  const params = frozen ? model.fc.namedParameters("fc.") : model.namedParameters();
  const optimizer = new SGD(params, { lr: options.lr, momentum: 0.9, nesterov: true, weightDecay: options.weightDecay });
  model.train();
  if (frozen) model.encoder.eval();
  let step = 0;
  try {
    for (; loader.epoch < options.epochs; loader.nextEpoch()) {
      let total = 0;
      let images = 0;
      const started = performance.now();
      while (!loader.epochDone) {
        optimizer.lr = warmupCosine(step, { peak: options.lr, totalSteps, warmupSteps: 0 });
        total += tidy(() => {
          const batch = loader.next();
          images += batch.images.size(0);
          const x = noGrad(() => options.augment.view(batch.images)); // (B, C, S, S)
          const logits = frozen ? model.fc.call(noGrad(() => model.encoder.call(x))) : model.call(x); // (B, classes)
          const loss = crossEntropy(logits, batch.labels!);
          loss.backward();
          return loss.item();
        });
        optimizer.step();
        optimizer.zeroGrad();
        step++;
        await nextTurn();
      }
      options.onEpoch?.(loader.epoch, total / Math.max(1, loader.batchesPerEpoch), {
        lr: optimizer.lr,
        imagesPerSecond: images / ((performance.now() - started) / 1000),
      });
    }
  } finally {
    loader.dispose();
    optimizer.dispose();
  }
}
