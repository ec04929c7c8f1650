/**
 * The projection head g(.) (SimCLR section 2.1, and SimCLRv2 section 2 for a deeper one):
 * an MLP from the representation h to the space where the contrastive loss is applied.
 * As in the official code (google-research/simclr, model_util.projection_head): hidden
 * layers are Linear (no bias) + BN + ReLU with width = feature dim; the last layer is
 * Linear (no bias) + BN without shift (centre = False), output 128.
 */
import { BatchNorm1d } from "../nn/batchnorm.js";
import { relu_ } from "../nn/functional.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import type { Tensor } from "../tensor/tensor.js";
import { ArgumentError } from "../errors.js";

export interface ProjectionHeadOptions {
  /** Size of h (the encoder's featureDim). */
  inFeatures: number;
  /** Linear layers: 2 in SimCLR v1, 3 in v2; 1 is a linear head and 0 none (z = h), section 4.2. */
  layers?: number;
  /** Hidden width; defaults to inFeatures. */
  hiddenFeatures?: number;
  /** Size of z. */
  outFeatures?: number;
}

/** One Linear + BN (+ ReLU) layer; named like a Sequential's children: `linear`, `bn`. */
class HeadLayer extends Module {
  readonly linear: Linear;
  readonly bn: BatchNorm1d;

  constructor(
    inFeatures: number,
    outFeatures: number,
    readonly final: boolean,
  ) {
    super();
    this.linear = this.registerModule("linear", new Linear({ inFeatures, outFeatures, bias: false }));
    this.bn = this.registerModule("bn", new BatchNorm1d({ numFeatures: outFeatures, center: !final }));
  }

  forward(x: Tensor): Tensor {
    const out = this.bn.call(this.linear.call(x));
    return this.final ? out : relu_(out);
  }
}

export class ProjectionHead extends Module {
  readonly layers: HeadLayer[];
  readonly outFeatures: number;

  constructor(options: ProjectionHeadOptions) {
    super();
    const { inFeatures, layers = 2, outFeatures = 128 } = options;
    const hidden = options.hiddenFeatures ?? inFeatures;
    if (!Number.isInteger(layers) || layers < 0) throw new ArgumentError(`ProjectionHead: layers must be an integer >= 0, got ${layers}`);
    this.outFeatures = layers === 0 ? inFeatures : outFeatures;
    this.layers = [];
    for (let i = 0; i < layers; i++) {
      const last = i === layers - 1;
      const layer = new HeadLayer(i === 0 ? inFeatures : hidden, last ? outFeatures : hidden, last);
      this.layers.push(this.registerModule(String(i), layer));
    }
  }

  /** h: (N, inFeatures) -> z: (N, outFeatures); with no layers, a copy of h. */
  forward(h: Tensor): Tensor {
    return this.forwardLayers(h, this.layers.length);
  }

  /** The output after the first `count` layers (SimCLRv2 fine-tunes from the first). */
  forwardLayers(h: Tensor, count: number): Tensor {
    let out = h;
    for (const layer of this.layers.slice(0, count)) out = layer.call(out);
    return out === h ? h.clone() : out;
  }
}
