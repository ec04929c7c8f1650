/**
 * The SimCLR network (section 2.1): encoder f (a ResNet giving h) and projection head g
 * (giving z, where the contrastive loss applies). State-dict names: `encoder.*`, `head.*`.
 */
import { Module } from "../nn/module.js";
import type { Tensor } from "../tensor/tensor.js";
import { ProjectionHead } from "./projection-head.js";
import { resnet, type ResNet, type ResNetDepth } from "./resnet.js";

export interface SimCLRModelOptions {
  depth: ResNetDepth;
  width: number;
  cifarStem: boolean;
  inChannels: number;
  zeroInitResidual: boolean;
  headLayers: number;
  outDim: number;
}

export class SimCLRModel extends Module {
  readonly encoder: ResNet;
  readonly head: ProjectionHead;

  constructor(readonly options: SimCLRModelOptions) {
    super();
    const { depth, width, cifarStem, inChannels, zeroInitResidual } = options;
    this.encoder = this.registerModule("encoder", resnet({ depth, width, cifarStem, inChannels, zeroInitResidual }));
    this.head = this.registerModule("head", new ProjectionHead({ inFeatures: this.encoder.featureDim, layers: options.headLayers, outFeatures: options.outDim }));
  }

  /** x: (N, C, H, W) -> h (N, featureDim) and z (N, outDim). */
  forward(x: Tensor): { h: Tensor; z: Tensor } {
    const h = this.encoder.forward(x);
    return { h, z: this.head.forward(h) };
  }
}
