import { empty } from "../tensor/factory.js";
import type { Tensor } from "../tensor/tensor.js";
import { conv2d } from "./functional.js";
import { defaultLayerInit_ } from "./init.js";
import { Module } from "./module.js";
import { ArgumentError } from "../errors.js";

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  /** Square kernel side, or [height, width]. */
  kernelSize: number | [number, number];
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  /** Learnable bias (default true; false before a BatchNorm). */
  bias?: boolean;
}

function positiveInt(value: number, name: string, layer: string): void {
  if (!Number.isInteger(value) || value < 1) throw new ArgumentError(`${layer}: ${name} must be a positive integer, got ${value}`);
}

/** 2-d convolution layer; weight (out, in/groups, kH, kW), PyTorch's default init. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly options: Required<Conv2dOptions>;

  constructor(options: Conv2dOptions) {
    super();
    this.options = { stride: 1, padding: 0, dilation: 1, groups: 1, bias: true, ...options };
    const { inChannels, outChannels, groups } = this.options;
    positiveInt(inChannels, "inChannels", "Conv2d");
    positiveInt(outChannels, "outChannels", "Conv2d");
    positiveInt(groups, "groups", "Conv2d");
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new ArgumentError(`Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${groups})`);
    }
    const [kh, kw] = typeof options.kernelSize === "number" ? [options.kernelSize, options.kernelSize] : options.kernelSize;
    positiveInt(kh, "kernelSize", "Conv2d");
    positiveInt(kw, "kernelSize", "Conv2d");
    this.weight = this.registerParameter("weight", empty([outChannels, inChannels / groups, kh, kw]));
    this.bias = this.options.bias ? this.registerParameter("bias", empty([outChannels])) : null;
    defaultLayerInit_(this.weight, this.bias);
  }

  /** x: (N, inChannels, H, W) -> (N, outChannels, H', W') */
  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this.options;
    return conv2d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }
}
