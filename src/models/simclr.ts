/**
 * The SimCLR network (section 2.1): encoder f (a ResNet giving h) and projection head g
 * (giving z, where the contrastive loss applies). State-dict names: `encoder.*`, `head.*`.
 */
import { Module } from "../nn/module.js";
import type { Tensor } from "../tensor/tensor.js";
import { ProjectionHead } from "./projection-head.js";
import { resnet, type ResNet, type ResNetDepth } from "./resnet.js";

/** The encoder's options (ResNetOptions) and the head's; unset ones take ResNet's and ProjectionHead's defaults. */
export interface SimCLRModelOptions {
  depth: ResNetDepth;
  width?: number;
  cifarStem?: boolean;
  inChannels?: number;
  zeroInitResidual?: boolean;
  /** Layers of the projection head g (default 2: Linear-BN-ReLU-Linear-BN, the paper's). */
  headLayers?: number;
  /** Size of z (default 128). */
  outDim?: number;
}

export class SimCLRModel extends Module {
  readonly encoder: ResNet;
  readonly head: ProjectionHead;

  constructor(readonly options: SimCLRModelOptions) {
    super();
    const { depth, width, cifarStem, inChannels, zeroInitResidual } = options;
    this.encoder = this.registerModule("encoder", resnet({ depth, width, cifarStem, inChannels, zeroInitResidual }));
    this.head = this.registerModule(
      "head",
      new ProjectionHead({ inFeatures: this.encoder.featureDim, layers: options.headLayers, outFeatures: options.outDim }),
    );
  }

  /** x: (N, C, H, W) -> h (N, featureDim) and z (N, outDim). */
  forward(x: Tensor): { h: Tensor; z: Tensor } {
    const h = this.encoder.call(x);
    return { h, z: this.head.call(h) };
  }
}
