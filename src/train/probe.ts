/**
 * The online linear probe: a linear classifier trained on detached h of the augmented
 * pretraining batches, as the official TF2 code does (its supervised head on
 * stop_gradient(hiddens)), with its mean training accuracy logged per epoch. It never
 * changes the pretraining result: gradients stop at h, and its initialisation runs with
 * libtorch's RNG state saved and restored.
 */
import { crossEntropy } from "../nn/functional.js";
import { Linear } from "../nn/linear.js";
import { SGD } from "../optim/sgd.js";
import { cat } from "../tensor/factory.js";
import { withoutRngEffect } from "../tensor/rng.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import type { BatchEvent, TrainCallback } from "./callbacks.js";

export class OnlineLinearProbe implements TrainCallback {
  readonly name = "probe";
  readonly classifier: Linear;
  readonly optimizer: SGD;
  #correct = 0;
  #seen = 0;

  constructor(featureDim: number, numClasses: number, device: string) {
    this.classifier = withoutRngEffect(() => new Linear({ inFeatures: featureDim, outFeatures: numClasses }).to(device));
    this.optimizer = new SGD(this.classifier.namedParameters(), { lr: 0.1, momentum: 0.9, nesterov: true });
  }

  /** Trains on both views of the batch: h (2B, D), labels (B) repeated for the second view. */
  onBatch({ h, labels }: BatchEvent): void {
    if (labels !== null) this.step(h, cat([labels, labels]));
  }

  onEpochEnd(): Record<string, number> | null {
    const accuracy = this.takeEpochAccuracy();
    return accuracy === null ? null : { probe_acc: accuracy };
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
    const m = h.size(0);
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

  /** Weights ("weight", "bias") and momentum ("optimizer.*"), by reference. */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>(this.classifier.stateDict());
    for (const [k, t] of this.optimizer.stateDict()) out.set(`optimizer.${k}`, t);
    return out;
  }

  loadStateDict(state: Map<string, Tensor>): void {
    const own = new Map([...state].filter(([k]) => !k.startsWith("optimizer.")));
    if (own.size > 0) this.classifier.loadStateDict(own);
    this.optimizer.loadStateDict(new Map([...state].filter(([k]) => k.startsWith("optimizer.")).map(([k, t]) => [k.slice("optimizer.".length), t])));
  }
}
