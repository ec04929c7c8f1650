/**
 * The two halves of the SimCLR step after augmentation, shared by the plain step and GradCache:
 * `embed` (f and g on views, under autocast for bf16) and `contrastiveLoss` (NT-Xent on z,
 * gathered across ranks when data-parallel: section 2.2, negatives from the global batch).
 */
import type { ProcessGroup } from "../distributed/process-group.js";
import { ntXentLoss } from "../losses/ntxent.js";
import type { SimCLRModel } from "../models/simclr.js";
import { arange, cat } from "../tensor/factory.js";
import { autocast } from "../tensor/runtime.js";
import type { MemoryFormat, Tensor } from "../tensor/tensor.js";

export interface SimclrStepOptions {
  /** NT-Xent temperature tau. */
  temperature: number;
  /** l2-normalise z (cosine similarity); false: the raw dot product (Table 5). Default true. */
  normalize?: boolean;
  /** bf16: the forward runs under autocast; the loss is computed in float32 either way. */
  precision: "fp32" | "bf16";
  /** Layout of the views (the model's weights should be in the same: Module.toMemoryFormat). */
  memoryFormat?: MemoryFormat;
  /** GradCache (grad-cache.ts): views per forward pass; null or >= 2B: the whole batch at once. */
  chunkSize?: number | null;
  /**
   * Data parallelism: this process holds images [offset, offset + B/W) of a global batch of
   * `globalBatch`. Augmentation parameters are drawn for the whole global batch and sliced;
   * z is all-gathered (with a summing backward) so every anchor meets the negatives of every
   * rank (section 2.2: negatives from the global batch).
   */
  shard?: { group: ProcessGroup; globalBatch: number; offset: number };
}

export interface SimclrStepOutput {
  /** The loss, a scalar (its graph may end at the embeddings: call `backward`). */
  loss: Tensor;
  /**
   * The step's figure: for NT-Xent the fraction of anchors whose most similar other view is
   * their positive; for distillation the mean cosine to the teacher (the loop logs it under
   * its objective's metric name).
   */
  accuracy: number;
  /** h of every view, (2B, featureDim). */
  h: Tensor;
  /** Fills the parameters' gradients from the loss. */
  backward(): void;
}

/** f and g on views (N, C, S, S): h (N, featureDim) and z (N, outDim) in float32. */
export function embed(model: SimCLRModel, views: Tensor, options: Pick<SimclrStepOptions, "precision">): { h: Tensor; z: Tensor } {
  const forward = () => model.call(views);
  const device = views.device.startsWith("cuda") ? "cuda" : "cpu";
  const { h, z } = options.precision === "bf16" ? autocast(forward, { device, dtype: "bfloat16" }) : forward(); // h (N, D), z (N, outDim)
  return { h, z: z.to("float32") };
}

/** NT-Xent on z (2b, outDim) of this rank's `b` images (first views, then second). */
export function contrastiveLoss(
  z: Tensor,
  b: number,
  options: Pick<SimclrStepOptions, "temperature" | "normalize" | "shard">,
): { loss: Tensor; accuracy: number } {
  const { shard, temperature, normalize = true } = options;
  if (shard === undefined) return ntXentLoss(z, { temperature, normalize });
  const gathered = shard.group.allGatherWithGrad(z); // (W * 2b, outDim): [first views of rank 0, its second views, rank 1's, ...]
  const zGlobal = gathered.indexSelect(0, globalOrder(shard.group.size, b, z.device)); // (2B, outDim): first views of all, then second views
  return ntXentLoss(zGlobal, { temperature, normalize, local: { start: shard.offset, count: b } });
}

/** Row order that turns W ranks' [first views; second views] blocks into [all first views; all second views]. */
function globalOrder(worldSize: number, b: number, device: string): Tensor {
  const firsts: Tensor[] = [];
  const seconds: Tensor[] = [];
  for (let r = 0; r < worldSize; r++) {
    firsts.push(arange(2 * b * r, 2 * b * r + b, 1, { device }));
    seconds.push(arange(2 * b * r + b, 2 * b * (r + 1), 1, { device }));
  }
  return cat([...firsts, ...seconds]); // (2B)
}
