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
import { cat, tensor, zeros } from "../tensor/factory.js";
import { withoutRngEffect } from "../tensor/rng.js";
import { noGrad } from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import type { BatchEvent, TrainCallback } from "../run/callbacks.js";

export class OnlineLinearProbe implements TrainCallback {
  readonly name = "probe";
  readonly classifier: Linear;
  readonly optimizer: SGD;
  /** (correct, seen) of the current epoch, float64 (2): checkpointed so a resumed epoch's figure covers all of it. */
  readonly #counts: Tensor;

  constructor(featureDim: number, numClasses: number, device: string, lr = 0.1) {
    this.classifier = withoutRngEffect(() => new Linear({ inFeatures: featureDim, outFeatures: numClasses }).to(device));
    this.optimizer = new SGD(this.classifier.namedParameters(), { lr, momentum: 0.9, nesterov: true });
    this.#counts = keep(zeros([2], { dtype: "float64" }));
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
      const logits = this.classifier.call(h.detach().to("float32")); // (M, C)
      crossEntropy(logits, labels).backward();
      return noGrad(() => logits.argmax(1).eq(labels).to("float32").mean().item());
    });
    this.optimizer.step();
    this.optimizer.zeroGrad();
    const m = h.size(0);
    noGrad(() => tidy(() => this.#counts.add_(tensor([accuracy * m, m], { dtype: "float64" }))));
    return accuracy;
  }

  /** Mean training accuracy since the last call (the epoch's), then starts over. */
  takeEpochAccuracy(): number | null {
    const [correct = 0, seen = 0] = Array.from(this.#counts.dataAsNumbers());
    noGrad(() => this.#counts.zero_());
    return seen === 0 ? null : correct / seen;
  }

  /** Frees the classifier, its optimizer's buffers and the counts. */
  dispose(): void {
    this.optimizer.dispose();
    this.classifier.dispose();
    this.#counts.dispose();
  }

  /** Weights ("weight", "bias"), momentum ("optimizer.*") and the epoch's counts ("counts"), by reference. */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>(this.classifier.stateDict());
    out.set("counts", this.#counts);
    for (const [k, t] of this.optimizer.stateDict()) out.set(`optimizer.${k}`, t);
    return out;
  }

  loadStateDict(state: Map<string, Tensor>): void {
    const counts = state.get("counts");
    if (counts !== undefined) noGrad(() => this.#counts.copy_(counts));
    const own = new Map([...state].filter(([k]) => !k.startsWith("optimizer.") && k !== "counts"));
    if (own.size > 0) this.classifier.loadStateDict(own);
    this.optimizer.loadStateDict(new Map([...state].filter(([k]) => k.startsWith("optimizer.")).map(([k, t]) => [k.slice("optimizer.".length), t])));
  }
}
