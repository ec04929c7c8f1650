/**
 * Representations for evaluation: h, the encoder's pooled output (SimCLR section 2.1 uses h,
 * not z, for every downstream task), computed with the encoder frozen and BN in inference
 * mode.
 */
import type { ResNet } from "../models/resnet.js";
import { cat } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";

/** images: uint8 (N, C, H, W) -> h: float32 (N, featureDim). Restores the encoder's mode. */
export function extractFeatures(encoder: ResNet, images: Tensor, options: { batchSize?: number; device?: string } = {}): Tensor {
  const batchSize = options.batchSize ?? 512;
  const device = options.device ?? "cpu";
  const wasTraining = encoder.training;
  encoder.eval();
  try {
    return tidy(() =>
      noGrad(() => {
        const n = images.shape[0] as number;
        const parts: Tensor[] = [];
        for (let i = 0; i < n; i += batchSize) {
          const batch = images.narrow(0, i, Math.min(batchSize, n - i)).to(device);
          parts.push(encoder.forward(batch.to("float32").div(255)).to("cpu"));
        }
        return cat(parts);
      }),
    );
  } finally {
    encoder.train(wasTraining);
  }
}
