/**
 * Representations for evaluation: h, the encoder's pooled output (SimCLR section 2.1 uses h,
 * not z, for every downstream task), computed with the encoder frozen and BN in inference
 * mode.
 */
import { DataLoader, toUnitFloat } from "../data/loader.js";
import type { Encoder } from "../models/encoder.js";
import type { ProjectionHead } from "../models/projection-head.js";
import { cat } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";

/** images: uint8 (N, C, H, W) -> h: float32 (N, featureDim) on the CPU. Restores the encoder's mode. */
export function extractFeatures(encoder: Encoder, images: Tensor, options: { batchSize?: number; device?: string } = {}): Tensor {
  return encoder.inInferenceMode(() =>
    tidy(() =>
      noGrad(() => {
        const loader = new DataLoader({ images }, { batchSize: options.batchSize ?? 512, device: options.device ?? "cpu", shuffle: false });
        const parts: Tensor[] = [];
        for (const batch of loader.batches()) parts.push(encoder.call(batch.images).to("cpu")); // (b, featureDim)
        return cat(parts);
      }),
    ),
  );
}

/** z = g(h) for features h (N, D) from extractFeatures: the head in inference mode, float32 (N, outDim) on the CPU. Restores the head's mode. */
export function projectFeatures(head: ProjectionHead, h: Tensor, options: { batchSize?: number; device?: string } = {}): Tensor {
  return head.inInferenceMode(() =>
    tidy(() =>
      noGrad(() => {
        const batchSize = options.batchSize ?? 4096;
        const parts: Tensor[] = [];
        for (let i = 0; i < h.size(0); i += batchSize) {
          const rows = h.narrow(0, i, Math.min(batchSize, h.size(0) - i)).to(options.device ?? "cpu"); // (b, D)
          parts.push(head.call(rows).to("cpu")); // (b, outDim)
        }
        return cat(parts);
      }),
    ),
  );
}

/** The raw-pixel baseline's features: uint8 (N, C, H, W) -> float32 (N, C*H*W) in [0, 1]. */
export function pixelFeatures(images: Tensor): Tensor {
  return tidy(() => toUnitFloat(images).flatten(1));
}
