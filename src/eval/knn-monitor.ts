/**
 * kNN monitoring of a pretraining run: every few epochs, the weighted kNN classifier of
 * knn.ts (k = 200, T = 0.1) on h of a bank of labelled training images, scored on held-out
 * queries. A training callback (run/callbacks.ts): it runs the encoder in
 * inference mode without gradients, so it never changes the pretraining result.
 */
import type { SimCLRModel } from "../models/simclr.js";
import type { EpochEvent, TrainCallback } from "../run/callbacks.js";
import { failpoint } from "../run/failpoint.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { extractFeatures } from "./features.js";
import { knnClassify } from "./knn.js";

export interface LabelledImages {
  /** uint8 (N, C, H, W). */
  images: Tensor;
  /** int64 (N). */
  labels: Tensor;
}

export class KnnMonitor implements TrainCallback {
  /** The monitor owns bank and queries from here on: dispose() frees them. */
  constructor(
    readonly bank: LabelledImages,
    readonly queries: LabelledImages,
    readonly numClasses: number,
    readonly device: string,
    /** Evaluate after every `every` epochs. */
    readonly every = 1,
    /** k and T of the weighted vote (default 200 and 0.1). */
    readonly vote: { k: number; temperature: number } = { k: 200, temperature: 0.1 },
  ) {}

  evaluate(encoder: SimCLRModel["encoder"]): { top1: number; top5: number } {
    return tidy(() => {
      const bank = extractFeatures(encoder, this.bank.images, { device: this.device }); // (Nb, D)
      failpoint("evaluation");
      const queries = extractFeatures(encoder, this.queries.images, { device: this.device }); // (Nq, D)
      const { top1, top5 } = knnClassify(bank, this.bank.labels, queries, this.queries.labels, {
        numClasses: this.numClasses,
        k: this.vote.k,
        temperature: this.vote.temperature,
      });
      return { top1, top5 };
    });
  }

  /** Frees the bank and the queries (the monitor was given them to keep). */
  dispose(): void {
    for (const t of [this.bank.images, this.bank.labels, this.queries.images, this.queries.labels]) t.dispose();
  }

  onEpochEnd({ epoch, model }: EpochEvent): Record<string, number> | null {
    if ((epoch + 1) % this.every !== 0) return null;
    const { top1, top5 } = this.evaluate(model.encoder);
    return { knn_top1: top1, knn_top5: top5 };
  }
}
