/**
 * The SimCLR network (section 2.1): encoder f (any backbone of encoder.ts, giving h) and
 * projection head g (giving z, where the contrastive loss applies). State-dict names:
 * `encoder.*`, `head.*`.
 */
import { Module } from "../nn/module.js";
import type { Tensor } from "../tensor/tensor.js";
import { buildEncoder, type Encoder, type EncoderOptions } from "./encoder.js";
import { ProjectionHead } from "./projection-head.js";

/** The encoder's options and the head's; unset ones take the encoder's and ProjectionHead's defaults. */
export interface SimCLRModelOptions extends EncoderOptions {
  /** Layers of the projection head g (default 2: Linear-BN-ReLU-Linear-BN, the paper's). */
  headLayers?: number;
  /** Size of z (default 128). */
  outDim?: number;
}

export class SimCLRModel extends Module {
  readonly encoder: Encoder;
  readonly head: ProjectionHead;

  constructor(readonly options: SimCLRModelOptions) {
    super();
    const { headLayers, outDim, ...encoder } = options;
    this.encoder = this.registerModule("encoder", buildEncoder(encoder));
    this.head = this.registerModule("head", new ProjectionHead({ inFeatures: this.encoder.featureDim, layers: headLayers, outFeatures: outDim }));
  }

  /** x: (N, C, H, W) -> h (N, featureDim) and z (N, outDim). */
  forward(x: Tensor): { h: Tensor; z: Tensor } {
    const h = this.encoder.call(x);
    return { h, z: this.head.call(h) };
  }
}
