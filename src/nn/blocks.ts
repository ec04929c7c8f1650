/**
 * The building blocks torchvision's mobile networks share (torchvision.ops.misc and
 * ops.stochastic_depth), with their state-dict names: a conv + BN + activation unit, squeeze-
 * and-excitation, stochastic depth, and the channel rounding of the MobileNet papers.
 */
import type { Tensor } from "../tensor/tensor.js";
import { ArgumentError } from "../errors.js";
import { Hardswish, ReLU, SiLU } from "./activation.js";
import { BatchNorm2d } from "./batchnorm.js";
import { Conv2d } from "./conv.js";
import { hardsigmoid, silu, stochasticDepth } from "./functional.js";
import { constant_, kaimingNormal_ } from "./init.js";
import { Module } from "./module.js";
import { AdaptiveAvgPool2d } from "./pooling.js";
import { Sequential, type Layer } from "./sequential.js";

/**
 * `v` rounded to the nearest multiple of `divisor` (at least `min`, default `divisor`), and
 * never more than 10% below `v` (torchvision's _make_divisible, from the TensorFlow MobileNets).
 */
export function makeDivisible(v: number, divisor = 8, min = divisor): number {
  const rounded = Math.max(min, Math.floor((v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/** The activations the blocks take, by torchvision's class names. */
export type ActivationKind = "relu" | "hardswish" | "silu";

export interface ConvNormActivationOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  /** Depthwise when equal to the channels. */
  groups?: number;
  /** null: none (a projection). */
  activation: ActivationKind | null;
  /** BatchNorm2d's eps and momentum (MobileNetV3: 0.001 and 0.01; EfficientNet: PyTorch's). */
  bn?: { eps?: number; momentum?: number };
}

/**
 * Conv2d (no bias, "same" padding (k - 1) / 2) + BatchNorm2d + activation, named "0", "1", "2"
 * as torchvision's Conv2dNormActivation.
 */
export class ConvNormActivation extends Sequential {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly activation: ActivationKind | null;

  constructor(options: ConvNormActivationOptions) {
    const { inChannels, outChannels, kernelSize, stride = 1, groups = 1, activation } = options;
    const conv = new Conv2d({ inChannels, outChannels, kernelSize, stride, padding: (kernelSize - 1) >> 1, groups, bias: false });
    const bn = new BatchNorm2d({ numFeatures: outChannels, ...options.bn });
    super(...([conv, bn, ...(activation === null ? [] : [activationLayer(activation)])] as Layer[]));
    this.conv = conv;
    this.bn = bn;
    this.activation = activation;
  }
}

function activationLayer(kind: ActivationKind): Layer {
  switch (kind) {
    case "relu":
      return new ReLU(true);
    case "hardswish":
      return new Hardswish();
    case "silu":
      return new SiLU();
  }
}

export interface SqueezeExcitationOptions {
  channels: number;
  squeezeChannels: number;
  /** Between the two 1x1 convs: ReLU (MobileNetV3) or SiLU (EfficientNet). */
  activation: "relu" | "silu";
  /** The gate: hardsigmoid (MobileNetV3) or sigmoid (EfficientNet). */
  gate: "hardsigmoid" | "sigmoid";
}

/**
 * Squeeze-and-excitation (Hu et al. 2018): x * gate(fc2(act(fc1(avgpool(x))))), fc1 and fc2
 * being 1x1 convs with bias, as torchvision's SqueezeExcitation (`fc1`, `fc2`).
 */
export class SqueezeExcitation extends Module {
  readonly avgpool = new AdaptiveAvgPool2d(1);
  readonly fc1: Conv2d;
  readonly fc2: Conv2d;

  constructor(readonly options: SqueezeExcitationOptions) {
    super();
    const { channels, squeezeChannels } = options;
    this.fc1 = this.registerModule("fc1", new Conv2d({ inChannels: channels, outChannels: squeezeChannels, kernelSize: 1 }));
    this.fc2 = this.registerModule("fc2", new Conv2d({ inChannels: squeezeChannels, outChannels: channels, kernelSize: 1 }));
  }

  /** x: (N, C, H, W) -> the same shape, each channel scaled by its gate in [0, 1]. */
  forward(x: Tensor): Tensor {
    const squeezed = this.fc1.call(this.avgpool.call(x)); // (N, S, 1, 1)
    const excited = this.fc2.call(this.options.activation === "relu" ? squeezed.relu() : silu(squeezed)); // (N, C, 1, 1)
    return x.mul(this.options.gate === "hardsigmoid" ? hardsigmoid(excited) : excited.sigmoid());
  }
}

/** Stochastic depth in torchvision's "row" mode (functional.stochasticDepth); no parameters. */
export class StochasticDepth extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ArgumentError(`StochasticDepth: p must be in [0, 1], got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return stochasticDepth(x, this.p, this.training);
  }
}

/**
 * torchvision's initialisation of its mobile networks: He normal (fan out) for every conv,
 * zero biases, every BatchNorm2d at the identity (gamma 1, beta 0).
 */
export function initConvBn_(module: Module): void {
  for (const [, m] of module.namedModules()) {
    if (m instanceof Conv2d) {
      kaimingNormal_(m.weight, { mode: "fanOut" });
      if (m.bias !== null) constant_(m.bias, 0);
    } else if (m instanceof BatchNorm2d) {
      if (m.weight !== null) constant_(m.weight, 1);
      if (m.bias !== null) constant_(m.bias, 0);
    }
  }
}
