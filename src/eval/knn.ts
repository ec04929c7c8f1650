/**
 * Weighted k-nearest-neighbour classification of representations, as in the usual
 * self-supervised benchmarks (Wu et al. 2018, "instance discrimination"): cosine similarity,
 * the k most similar training examples vote for their class with weight exp(sim / T).
 * Defaults k = 200, T = 0.1.
 */
import { normalize } from "../nn/functional.js";
import { cat, zeros } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { ArgumentError } from "../errors.js";
import { checkOptions, checkTensor } from "../tensor/check.js";

export interface KnnOptions {
  /** Neighbours that vote (default 200); a list scores every k from one similarity pass (knnClassifyAt). */
  k?: number;
  temperature?: number;
  /** Number of classes (default: max label + 1). */
  numClasses?: number;
  /** Test rows scored at once (memory: batch x N similarities). */
  batchSize?: number;
}

export interface KnnResult {
  /** Class scores, (M, C); argmax is the prediction. */
  scores: Tensor;
  top1: number;
  top5: number;
}

/** Fraction of rows whose label is the best-scoring class / among the 5 best. */
export function topkAccuracy(scores: Tensor, labels: Tensor): { top1: number; top5: number } {
  return tidy(() => {
    const n = labels.size(0);
    const k = Math.min(5, scores.size(1));
    const best = scores.topk(k, 1).indices; // (M, k)
    const hits = best.eq(labels.reshape([-1, 1])); // (M, k)
    const top1 = hits.narrow(1, 0, 1).to("float32").sum().item() / n;
    const top5 = hits.to("float32").sum().item() / n;
    return { top1, top5 };
  });
}

export function knnClassify(trainFeatures: Tensor, trainLabels: Tensor, testFeatures: Tensor, testLabels: Tensor, options: KnnOptions = {}): KnnResult {
  const [result] = knnClassifyAt(trainFeatures, trainLabels, testFeatures, testLabels, { ...options, ks: [options.k ?? 200] });
  return result!;
}

/**
 * kNN at several k from one pass over the similarities: the largest k's neighbours are found
 * once per batch of queries, and each smaller k votes with their first k. One result per k, in
 * the order given (each k capped at the bank's size).
 */
export function knnClassifyAt(
  trainFeatures: Tensor,
  trainLabels: Tensor,
  testFeatures: Tensor,
  testLabels: Tensor,
  options: Omit<KnnOptions, "k"> & { ks: readonly number[] },
): (KnnResult & { k: number })[] {
  checkTensor(trainFeatures, "knnClassify(trainFeatures)", { ndim: 2 });
  checkTensor(trainLabels, "knnClassify(trainLabels)", { ndim: 1 });
  checkTensor(testFeatures, "knnClassify(testFeatures)", { ndim: 2 });
  checkTensor(testLabels, "knnClassify(testLabels)", { ndim: 1 });
  checkOptions(options, "knnClassify(options)");
  const temperature = options.temperature ?? 0.1;
  const n = trainFeatures.size(0);
  if (!Array.isArray(options.ks) || options.ks.length === 0) throw new ArgumentError("knn: expected at least one k");
  for (const k of options.ks) if (!(Number.isInteger(k) && k >= 1)) throw new ArgumentError(`knn: k must be an integer >= 1, got ${k}`);
  const ks = options.ks.map((k) => Math.min(k, n));
  const kMax = Math.max(...ks);
  const batchSize = options.batchSize ?? 256;
  if (!(temperature > 0)) throw new ArgumentError(`knn: temperature must be > 0, got ${temperature}`);
  if (trainLabels.shape[0] !== n) throw new ArgumentError(`knn: ${trainLabels.shape[0]} labels for ${n} training features`);
  return tidy(() =>
    noGrad(() => {
      if (trainLabels.min().item() < 0) throw new ArgumentError("knn: the training set has unlabeled examples (label -1)");
      const classes = options.numClasses ?? trainLabels.max().item() + 1;
      const bank = normalize(trainFeatures.to("float32"), 1); // (N, D)
      const bankT = bank.t().contiguous(); // (D, N)
      const query = normalize(testFeatures.to("float32"), 1); // (M, D)
      const m = query.size(0);
      const parts: Tensor[][] = ks.map(() => []);
      for (let i = 0; i < m; i += batchSize) {
        const scored = tidy(() => {
          const q = query.narrow(0, i, Math.min(batchSize, m - i)); // (b, D)
          const { values, indices } = q.mm(bankT).topk(kMax, 1); // (b, kMax), most similar first
          const votes = trainLabels.index([indices]); // (b, kMax) class of each neighbour
          const weights = values.div(temperature).exp(); // (b, kMax)
          return ks.map((k) => zeros([q.size(0), classes]).scatterAdd(1, votes.narrow(1, 0, k), weights.narrow(1, 0, k))); // (b, C) per k
        });
        scored.forEach((s, j) => parts[j]!.push(s));
      }
      return ks.map((k, j) => {
        const scores = cat(parts[j]!);
        return { k, scores, ...topkAccuracy(scores, testLabels) };
      });
    }),
  );
}
