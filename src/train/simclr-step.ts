/**
 * What one SimCLR step computes (Algorithm 1 of the paper): two augmented views of every
 * image, one forward pass of encoder f and head g over both, and NT-Xent on z.
 */
import type { SimCLRAugment } from "../augment/simclr.js";
import { ntXentLoss } from "../losses/ntxent.js";
import type { SimCLRModel } from "../models/simclr.js";
import { cat } from "../tensor/factory.js";
import { autocast, noGrad } from "../tensor/runtime.js";
import type { Tensor } from "../tensor/tensor.js";

export interface SimclrStepOptions {
  /** NT-Xent temperature tau. */
  temperature: number;
  /** bf16: the forward runs under autocast; the loss is computed in float32 either way. */
  precision: "fp32" | "bf16";
}

/**
 * The forward and loss on a batch of images (B, C, H, W) in [0, 1]: the loss tensor, the
 * contrastive accuracy, and h (2B, featureDim) of both views (for monitors; detach before use).
 */
export function simclrForward(model: SimCLRModel, augment: SimCLRAugment, images: Tensor, options: SimclrStepOptions): { loss: Tensor; accuracy: number; h: Tensor } {
  const views = noGrad(() => cat([augment.view(images), augment.view(images)])); // (2B, C, S, S)
  const forward = () => model.forward(views);
  const device = views.device.startsWith("cuda") ? "cuda" : "cpu";
  const { h, z } = options.precision === "bf16" ? autocast(forward, { device, dtype: "bfloat16" }) : forward(); // h (2B, D), z (2B, outDim)
  return { ...ntXentLoss(z.to("float32"), { temperature: options.temperature }), h };
}
