/**
 * What one SimCLR step computes (Algorithm 1 of the paper): two augmented views of every
 * image, one forward pass of encoder f and head g over both, and NT-Xent on z.
 */
import { sliceAugmentParams, type SimCLRAugment } from "../augment/simclr.js";
import type { ProcessGroup } from "../distributed/process-group.js";
import { ntXentLoss } from "../losses/ntxent.js";
import type { SimCLRModel } from "../models/simclr.js";
import { arange, cat } from "../tensor/factory.js";
import { autocast, noGrad } from "../tensor/runtime.js";
import type { MemoryFormat, Tensor } from "../tensor/tensor.js";

export interface SimclrStepOptions {
  /** NT-Xent temperature tau. */
  temperature: number;
  /** bf16: the forward runs under autocast; the loss is computed in float32 either way. */
  precision: "fp32" | "bf16";
  /** Layout of the views (the model's weights should be in the same: Module.toMemoryFormat). */
  memoryFormat?: MemoryFormat;
  /**
   * Data parallelism: this process holds images [offset, offset + B/W) of a global batch of
   * `globalBatch`. Augmentation parameters are drawn for the whole global batch and sliced;
   * z is all-gathered (with a summing backward) so every anchor meets the negatives of every
   * rank (section 2.2: negatives from the global batch).
   */
  shard?: { group: ProcessGroup; globalBatch: number; offset: number };
}

/**
 * The forward and loss on a batch of images (B, C, H, W) in [0, 1]: the loss tensor, the
 * contrastive accuracy, and h (2B, featureDim) of both views (for monitors; detach before use).
 */
export function simclrForward(model: SimCLRModel, augment: SimCLRAugment, images: Tensor, options: SimclrStepOptions): { loss: Tensor; accuracy: number; h: Tensor } {
  return simclrLoss(model, simclrViews(augment, images, options), images.size(0), options);
}

/** Both augmented views of every image, without gradients: (2B, C, S, S), first views then second, in options.memoryFormat. */
export function simclrViews(augment: SimCLRAugment, images: Tensor, options: SimclrStepOptions): Tensor {
  const { shard } = options;
  return noGrad(() => {
    const both = shard === undefined ? cat([augment.view(images), augment.view(images)]) : shardViews(augment, images, shard); // (2B, C, S, S)
    return options.memoryFormat === "channels_last" ? both.contiguous("channels_last") : both; // (2B, C, S, S), NHWC in memory
  });
}

/** f, g and NT-Xent on the views of `b` images (this rank's): the loss, the contrastive accuracy, and h. */
export function simclrLoss(model: SimCLRModel, views: Tensor, b: number, options: SimclrStepOptions): { loss: Tensor; accuracy: number; h: Tensor } {
  const { shard } = options;
  const forward = () => model.forward(views);
  const device = views.device.startsWith("cuda") ? "cuda" : "cpu";
  const { h, z } = options.precision === "bf16" ? autocast(forward, { device, dtype: "bfloat16" }) : forward(); // h (2B, D), z (2B, outDim)
  if (shard === undefined) return { ...ntXentLoss(z.to("float32"), { temperature: options.temperature }), h };
  const gathered = shard.group.allGatherWithGrad(z.to("float32")); // (W * 2b, outDim): [first views of rank 0, its second views, rank 1's, ...]
  const zGlobal = gathered.indexSelect(0, globalOrder(shard.group.size, b, device)); // (2B, outDim): first views of all, then second views
  return { ...ntXentLoss(zGlobal, { temperature: options.temperature, local: { start: shard.offset, count: b } }), h };
}

/** Both views of this rank's images, with parameters drawn for the whole global batch. */
function shardViews(augment: SimCLRAugment, images: Tensor, shard: NonNullable<SimclrStepOptions["shard"]>): Tensor {
  const [b, c, height, width] = [images.size(0), images.size(1), images.size(2), images.size(3)];
  const view = () => augment.apply(images, sliceAugmentParams(augment.sample(shard.globalBatch, height, width, c, images.device), shard.offset, b)); // (b, C, S, S)
  const first = view();
  return cat([first, view()]);
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
