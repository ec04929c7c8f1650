/** Test accuracy of a classifier: inference mode, no augmentation, in batches. */
import { DataLoader, type LoaderData } from "../data/loader.js";
import type { Module } from "../nn/module.js";
import { cat } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { topkAccuracy } from "./knn.js";

/**
 * Top-1 and top-5 accuracy of `model` on labelled uint8 images; the model's modes are restored
 * after. `logits` maps a batch to (b, classes) (default: the model's own output).
 */
export function evaluateClassifier(
  model: Module,
  data: Required<LoaderData>,
  device: string,
  batchSize = 512,
  logits: (x: Tensor) => Tensor = (x) => (model as Module & { forward(x: Tensor): Tensor }).call(x),
): { top1: number; top5: number } {
  return model.inInferenceMode(() =>
    tidy(() =>
      noGrad(() => {
        const parts: Tensor[] = [];
        const loader = new DataLoader({ images: data.images }, { batchSize, device, shuffle: false });
        for (const batch of loader.batches()) parts.push(logits(batch.images).to("cpu")); // (b, classes)
        return topkAccuracy(cat(parts), data.labels);
      }),
    ),
  );
}
