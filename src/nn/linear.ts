import { empty } from "../tensor/factory.js";
import type { Tensor } from "../tensor/tensor.js";
import { linear } from "./functional.js";
import { defaultLayerInit_ } from "./init.js";
import { Module } from "./module.js";
import { ArgumentError } from "../errors.js";

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  /** Learnable bias (default true). */
  bias?: boolean;
}

/** y = x W^T + b; weight (out, in), PyTorch's default init. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(options: LinearOptions) {
    super();
    const { inFeatures, outFeatures } = options;
    for (const [name, v] of [
      ["inFeatures", inFeatures],
      ["outFeatures", outFeatures],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ArgumentError(`Linear: ${name} must be a positive integer, got ${v}`);
    }
    this.weight = this.registerParameter("weight", empty([outFeatures, inFeatures]));
    this.bias = (options.bias ?? true) ? this.registerParameter("bias", empty([outFeatures])) : null;
    defaultLayerInit_(this.weight, this.bias);
  }

  /** x: (..., inFeatures) -> (..., outFeatures) */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
