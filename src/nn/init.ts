/** Weight initialisers, with PyTorch's (torch.nn.init) formulas and fan conventions. */
import { noGrad } from "../tensor/runtime.js";
import type { Tensor } from "../tensor/tensor.js";
import { ArgumentError } from "../errors.js";

export type FanMode = "fanIn" | "fanOut";

/** fan_in = in_channels x receptive field, fan_out = out_channels x receptive field. */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  const shape = t.shape;
  if (shape.length < 2) throw new ArgumentError(`fan in/out need a tensor of 2 or more dimensions, got [${shape.join(", ")}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.size(1) * receptive, fanOut: t.size(0) * receptive };
}

/** Gain for ReLU is sqrt(2); for leaky ReLU with slope a it is sqrt(2 / (1 + a^2)). */
function reluGain(negativeSlope: number): number {
  return Math.sqrt(2 / (1 + negativeSlope * negativeSlope));
}

/** He et al. 2015 normal init: std = gain / sqrt(fan). torchvision's ResNet uses fanOut. */
export function kaimingNormal_(t: Tensor, options: { mode?: FanMode; negativeSlope?: number } = {}): Tensor {
  const fan = fans(t)[options.mode ?? "fanIn"];
  const std = reluGain(options.negativeSlope ?? 0) / Math.sqrt(fan);
  return noGrad(() => t.normal_(0, std));
}

/** He et al. 2015 uniform init: bound = gain * sqrt(3 / fan). */
export function kaimingUniform_(t: Tensor, options: { mode?: FanMode; negativeSlope?: number } = {}): Tensor {
  const fan = fans(t)[options.mode ?? "fanIn"];
  const bound = reluGain(options.negativeSlope ?? 0) * Math.sqrt(3 / fan);
  return noGrad(() => t.uniform_(-bound, bound));
}

export function uniform_(t: Tensor, low: number, high: number): Tensor {
  return noGrad(() => t.uniform_(low, high));
}

export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return noGrad(() => t.normal_(mean, std));
}

export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}

/**
 * PyTorch's default for Conv and Linear layers: kaiming_uniform_(a=sqrt(5)) on the weight,
 * i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias.
 */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, { negativeSlope: Math.sqrt(5) });
  if (bias !== null) {
    const bound = 1 / Math.sqrt(fans(weight).fanIn);
    uniform_(bias, -bound, bound);
  }
}
