/**
 * Monitoring a pretraining run with labels it never trains on (the encoder only ever sees
 * the contrastive loss):
 * - an online linear probe: a linear classifier trained on detached h of the augmented
 *   batches, as the official TF2 code does (its supervised head on stop_gradient(hiddens)),
 *   with its mean training accuracy logged per epoch;
 * - a kNN evaluation every few epochs (src/eval/knn.ts) on a bank of training images.
 * Neither changes the pretraining result: gradients stop at h, the probe's initialisation
 * runs with libtorch's RNG state saved and restored, and kNN runs the encoder in inference
 * mode without gradients.
 */
import { crossEntropy } from "../nn/functional.js";
import { Linear } from "../nn/linear.js";
import type { ResNet } from "../models/resnet.js";
import { SGD } from "../optim/sgd.js";
import { extractFeatures } from "../eval/features.js";
import { knnClassify } from "../eval/knn.js";
import { getRngState, noGrad, setRngState } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";

export class OnlineLinearProbe {
  readonly classifier: Linear;
  readonly optimizer: SGD;
  #correct = 0;
  #seen = 0;

  constructor(featureDim: number, numClasses: number, device: string) {
    const rng = getRngState();
    try {
      this.classifier = new Linear({ inFeatures: featureDim, outFeatures: numClasses }).to(device);
    } finally {
      setRngState(rng);
      rng.dispose();
    }
    this.optimizer = new SGD(this.classifier.namedParameters(), { lr: 0.1, momentum: 0.9, nesterov: true });
  }

  /** One step on detached features h (M, D) with labels (M); returns the batch accuracy. */
  step(h: Tensor, labels: Tensor): number {
    const accuracy = tidy(() => {
      const logits = this.classifier.forward(h.detach().to("float32")); // (M, C)
      crossEntropy(logits, labels).backward();
      return noGrad(() => logits.argmax(1).eq(labels).to("float32").mean().item());
    });
    this.optimizer.step();
    this.optimizer.zeroGrad();
    const m = h.shape[0] as number;
    this.#correct += accuracy * m;
    this.#seen += m;
    return accuracy;
  }

  /** Mean training accuracy since the last call (the epoch's), then starts over. */
  takeEpochAccuracy(): number | null {
    const value = this.#seen === 0 ? null : this.#correct / this.#seen;
    this.#correct = 0;
    this.#seen = 0;
    return value;
  }

  /** Weights and momentum, for checkpoints (keys prefixed "probe."). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [k, t] of this.classifier.stateDict()) out.set(`probe.${k}`, t);
    for (const [k, t] of this.optimizer.stateDict()) out.set(`probe.optimizer.${k}`, t);
    return out;
  }

  loadStateDict(state: Map<string, Tensor>): void {
    const own = new Map([...state].filter(([k]) => k.startsWith("probe.") && !k.startsWith("probe.optimizer.")).map(([k, t]) => [k.slice(6), t]));
    if (own.size > 0) this.classifier.loadStateDict(own);
    this.optimizer.loadStateDict(new Map([...state].filter(([k]) => k.startsWith("probe.optimizer.")).map(([k, t]) => [k.slice(16), t])));
  }
}

/** kNN (k = 200, T = 0.1) of the encoder's h: a bank of labelled images and queries. */
export class KnnMonitor {
  constructor(
    readonly bank: { images: Tensor; labels: Tensor },
    readonly queries: { images: Tensor; labels: Tensor },
    readonly numClasses: number,
    readonly device: string,
  ) {}

  evaluate(encoder: ResNet): { top1: number; top5: number } {
    return tidy(() => {
      const bank = extractFeatures(encoder, this.bank.images, { device: this.device });
      const queries = extractFeatures(encoder, this.queries.images, { device: this.device });
      const { top1, top5 } = knnClassify(bank, this.bank.labels, queries, this.queries.labels, { numClasses: this.numClasses });
      return { top1, top5 };
    });
  }
}
