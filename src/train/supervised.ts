/**
 * Training with labels: semi-supervised fine-tuning of a pretrained encoder (SimCLR
 * Appendix B.5: the whole network, Nesterov SGD, no weight decay, no warm-up) and the
 * supervised baseline (the same encoder from scratch). Augmentation is random crop + flip.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { SimCLRAugment } from "../augment/simclr.js";
import { topkAccuracy } from "../eval/knn.js";
import type { ProjectionHead } from "../models/projection-head.js";
import type { ResNet } from "../models/resnet.js";
import { crossEntropy } from "../nn/functional.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import { SGD } from "../optim/sgd.js";
import { warmupCosine } from "../optim/schedule.js";
import { cat, randperm } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";

/** Encoder (+ optionally the projection head's first layer, SimCLRv2) + a linear classifier. */
export class Classifier extends Module {
  readonly encoder: ResNet;
  readonly head: ProjectionHead | null;
  readonly fc: Linear;

  constructor(encoder: ResNet, numClasses: number, head: ProjectionHead | null = null) {
    super();
    this.encoder = this.registerModule("encoder", encoder);
    this.head = head === null ? null : this.registerModule("head", head);
    const width = head === null ? encoder.featureDim : (head.layers[0]?.linear.weight.shape[0] as number);
    this.fc = this.registerModule("fc", new Linear({ inFeatures: width, outFeatures: numClasses }));
  }

  /** x: (N, C, H, W) in [0, 1] -> logits (N, classes). */
  forward(x: Tensor): Tensor {
    const h = this.encoder.forward(x);
    const features = this.head === null ? h : this.head.forwardLayers(h, 1);
    return this.fc.forward(features);
  }
}

export interface SupervisedTrainingOptions {
  epochs: number;
  batchSize: number;
  /** Peak learning rate (cosine decay to 0, no warm-up). */
  lr: number;
  weightDecay: number;
  device: string;
  /** Train only the classifier on the frozen encoder's h, BN in inference mode (linear evaluation). */
  freezeEncoder?: boolean;
  onEpoch?: (epoch: number, loss: number) => void;
}

/** Crop + flip only (SimCLR Appendix B.5/B.6). */
export function cropFlipAugment(): SimCLRAugment {
  return new SimCLRAugment({ preset: "cifar", jitterProbability: 0, grayscaleProbability: 0, blurProbability: 0 });
}

/** Trains every parameter of `model` on (images uint8, labels) with Nesterov SGD. */
export async function trainClassifier(model: Classifier, images: Tensor, labels: Tensor, options: SupervisedTrainingOptions): Promise<void> {
  const n = images.shape[0] as number;
  const batch = Math.min(options.batchSize, n);
  const stepsPerEpoch = Math.floor(n / batch);
  const totalSteps = stepsPerEpoch * options.epochs;
  const frozen = options.freezeEncoder ?? false;
  const params = frozen ? model.fc.namedParameters("fc.") : model.namedParameters();
  const optimizer = new SGD(params, { lr: options.lr, momentum: 0.9, nesterov: true, weightDecay: options.weightDecay });
  const augment = cropFlipAugment();
  model.train();
  if (frozen) model.encoder.eval();
  let step = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const order = keep(randperm(n));
    let total = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      optimizer.lr = warmupCosine(step, { peak: options.lr, totalSteps, warmupSteps: 0 });
      total += tidy(() => {
        const idx = order.narrow(0, s * batch, batch);
        const x = noGrad(() => augment.view(images.indexSelect(0, idx).to(options.device)));
        const logits = frozen ? model.fc.forward(noGrad(() => model.encoder.forward(x))) : model.forward(x); // (B, classes)
        const loss = crossEntropy(logits, labels.indexSelect(0, idx).to(options.device));
        loss.backward();
        return loss.item();
      });
      optimizer.step();
      optimizer.zeroGrad();
      step++;
      await nextTurn();
    }
    order.dispose();
    options.onEpoch?.(epoch, total / Math.max(1, stepsPerEpoch));
  }
}

/** Test top-1/top-5 (inference mode, no augmentation). */
export function evaluateClassifier(model: Classifier, images: Tensor, labels: Tensor, device: string): { top1: number; top5: number } {
  model.eval();
  return tidy(() =>
    noGrad(() => {
      const n = images.shape[0] as number;
      const parts: Tensor[] = [];
      for (let i = 0; i < n; i += 512) {
        const x = images.narrow(0, i, Math.min(512, n - i)).to(device).to("float32").div(255);
        parts.push(model.forward(x).to("cpu"));
      }
      return topkAccuracy(cat(parts), labels);
    }),
  );
}
