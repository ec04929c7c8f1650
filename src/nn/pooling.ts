import type { Tensor } from "../tensor/tensor.js";
import { adaptiveAvgPool2d, maxPool2d } from "./functional.js";
import { Module } from "./module.js";

export class MaxPool2d extends Module {
  constructor(readonly options: { kernelSize: number; stride?: number; padding?: number }) {
    super();
  }

  forward(x: Tensor): Tensor {
    const { kernelSize, stride, padding } = this.options;
    return maxPool2d(x, kernelSize, stride ?? kernelSize, padding ?? 0);
  }
}

/** Averages each channel down to outputSize x outputSize (1 gives global average pooling). */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | [number, number] = 1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}
