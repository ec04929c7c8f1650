/**
 * A classifier on a SimCLR encoder: encoder f, optionally the projection head's first layer
 * (SimCLRv2 fine-tunes from there), and a linear layer. Used by fine-tuning (Appendix B.5),
 * the paper's linear evaluation (B.6) and the supervised baseline.
 */
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import type { Tensor } from "../tensor/tensor.js";
import type { ProjectionHead } from "./projection-head.js";
import type { Encoder } from "./encoder.js";

export class Classifier extends Module {
  readonly encoder: Encoder;
  readonly head: ProjectionHead | null;
  readonly fc: Linear;

  constructor(encoder: Encoder, numClasses: number, head: ProjectionHead | null = null) {
    super();
    this.encoder = this.registerModule("encoder", encoder);
    this.head = head === null ? null : this.registerModule("head", head);
    const first = head?.layers[0];
    const width = first === undefined ? encoder.featureDim : first.linear.weight.size(0);
    this.fc = this.registerModule("fc", new Linear({ inFeatures: width, outFeatures: numClasses }));
  }

  /** x: (N, C, H, W) in [0, 1] -> logits (N, classes). */
  forward(x: Tensor): Tensor {
    const h = this.encoder.call(x); // (N, featureDim)
    const features = this.head === null ? h : this.head.forwardLayers(h, 1);
    return this.fc.call(features);
  }
}
