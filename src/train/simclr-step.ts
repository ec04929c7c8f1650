/**
 * What one SimCLR step computes (Algorithm 1 of the paper): two augmented views of every
 * image, one forward pass of encoder f and head g over both, and NT-Xent on z — in one pass,
 * or with train.chunkSize in GradCache's chunks (grad-cache.ts).
 */
import { sliceAugmentParams, type SimCLRAugment } from "../augment/simclr.js";
import type { SimCLRModel } from "../models/simclr.js";
import { cat } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import type { Tensor } from "../tensor/tensor.js";
import { contrastiveLoss, embed, type SimclrStepOptions, type SimclrStepOutput } from "./contrastive.js";
import { gradCacheForward } from "./grad-cache.js";

export type { SimclrStepOptions, SimclrStepOutput };

/**
 * The forward and loss on a batch of images (B, C, H, W) in [0, 1]: the loss tensor, the
 * contrastive accuracy, h (2B, featureDim) of both views (for monitors; detach before use),
 * and `backward`, which fills the parameters' gradients (use it rather than loss.backward():
 * in GradCache mode the loss's own graph ends at the embeddings).
 */
export function simclrForward(model: SimCLRModel, augment: SimCLRAugment, images: Tensor, options: SimclrStepOptions): SimclrStepOutput {
  const views = simclrViews(augment, images, options); // (2B, C, S, S)
  const b = images.size(0);
  if (options.chunkSize !== undefined && options.chunkSize !== null && options.chunkSize < views.size(0)) {
    return gradCacheForward(model, views, b, { ...options, chunkSize: options.chunkSize });
  }
  const { h, z } = embed(model, views, options); // (2B, D), (2B, outDim)
  const { loss, accuracy } = contrastiveLoss(z, b, options);
  return { loss, accuracy, h, backward: () => loss.backward() };
}

/** Both augmented views of every image, without gradients: (2B, C, S, S), first views then second, in options.memoryFormat. */
export function simclrViews(augment: SimCLRAugment, images: Tensor, options: SimclrStepOptions): Tensor {
  const { shard } = options;
  return noGrad(() => {
    const both = shard === undefined ? cat([augment.view(images), augment.view(images)]) : shardViews(augment, images, shard); // (2B, C, S, S)
    return options.memoryFormat === "channels_last" ? both.contiguous("channels_last") : both; // (2B, C, S, S), NHWC in memory
  });
}

/** Both views of this rank's images, with parameters drawn for the whole global batch. */
function shardViews(augment: SimCLRAugment, images: Tensor, shard: NonNullable<SimclrStepOptions["shard"]>): Tensor {
  const [b, c, height, width] = [images.size(0), images.size(1), images.size(2), images.size(3)];
  const view = () => augment.apply(images, sliceAugmentParams(augment.sample(shard.globalBatch, height, width, c, images.device), shard.offset, b)); // (b, C, S, S)
  const first = view();
  return cat([first, view()]);
}
