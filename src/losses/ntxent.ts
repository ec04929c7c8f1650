/**
 * NT-Xent, the normalized temperature-scaled cross-entropy loss (SimCLR section 2.1, eq. 1,
 * and Algorithm 1): for each of the 2N views, the positive is the other view of the same
 * image and the negatives are the other 2(N-1) views; similarity is cosine / temperature;
 * the loss is averaged over all 2N anchors.
 *
 * Layout: z holds the first views of all M images, then their second views, (2M, D); the
 * positive of row i is row (i + M) mod 2M. With embeddings gathered across processes, M is
 * the global batch and `local` says which pairs this process anchors: negatives come from
 * every row, anchors only from the local ones (the official code's cross-replica loss).
 */
import { normalize } from "../nn/functional.js";
import { arange, cat } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { ArgumentError } from "../errors.js";
import { checkOptions, checkTensor } from "../tensor/check.js";

export interface NtXentOptions {
  /** tau: 0.1 with LARS on ImageNet, 0.5 on CIFAR (paper Table 5, Appendix B.9). */
  temperature: number;
  /**
   * l2-normalise z first, so similarity is cosine (default true). False is Table 5's ablation:
   * the raw dot product, which the paper pairs with a large temperature (10).
   */
  normalize?: boolean;
  /** Pairs this process anchors: [start, start + count) of the M pairs (default: all). */
  local?: { start: number; count: number };
}

export interface NtXentResult {
  /** Scalar loss (requires grad when z does). */
  loss: Tensor;
  /** Fraction of anchors whose most similar other view is their positive. */
  accuracy: number;
}

export function ntXentLoss(z: Tensor, options: NtXentOptions): NtXentResult {
  checkTensor(z, "ntXentLoss(z)");
  checkOptions(options, "ntXentLoss(options)");
  const { temperature } = options;
  if (!(temperature > 0)) throw new ArgumentError(`ntXentLoss: temperature must be > 0, got ${temperature}`);
  if (z.ndim !== 2 || z.size(0) % 2 !== 0 || z.size(0) < 4) {
    throw new ArgumentError(`ntXentLoss: z must be (2M, D) with M >= 2 pairs, got [${z.shape.join(", ")}]`);
  }
  const rows = z.size(0);
  const m = rows / 2;
  const { start, count } = options.local ?? { start: 0, count: m };
  if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= m)) {
    throw new ArgumentError(`ntXentLoss: local pairs [${start}, ${start + count}) are not within the ${m} pairs`);
  }
  return tidy(() => {
    const device = z.device;
    const zn = options.normalize === false ? z : normalize(z, 1); // (2M, D), unit rows (or z itself)
    const first = arange(start, start + count, 1, { device }); // (n)
    const anchors = cat([first, first.add(m)]); // (2n): rows of z this process anchors
    const positives = cat([first.add(m), first]); // (2n): their positives
    // One (2n, 2M) matrix is kept for backward: the scaling and the mask act in place (their
    // backward needs neither input nor output), and the cross-entropy is written as
    // logsumexp - the positive's logit, whose backward needs only this matrix and a vector.
    const logits = zn.indexSelect(0, anchors).matmul(zn.t()).div_(temperature); // (2n, 2M)
    // Exclude each anchor's similarity with itself from the softmax.
    const self = anchors.reshape([-1, 1]); // (2n, 1)
    const columns = arange(0, rows, 1, { device }).reshape([1, rows]); // (1, 2M)
    logits.maskedFill_(self.eq(columns), -Infinity); // (2n, 2M)
    const positive = logits.gather(1, positives.reshape([-1, 1])).reshape([-1]); // (2n)
    const loss = logits.logsumexp(1).sub(positive).mean(); // cross-entropy with the positive as target
    const accuracy = noGrad(() => logits.argmax(1).eq(positives).to("float32").mean().item());
    return { loss, accuracy };
  });
}
