/**
 * EfficientNet-B0 (Tan & Le 2019, arXiv 1905.11946) as torchvision builds it
 * (models/efficientnet.py), without the classifier: forward returns the pooled output of the
 * last 1x1 conv, h (1280 channels), the representation SimCLR evaluates. Parameter names equal
 * torchvision's (`features.*`), so a torchvision state dict loads with strict=False missing
 * only `classifier.*`.
 */
import { ArgumentError } from "../errors.js";
import { ConvNormActivation, initConvBn_, makeDivisible, SqueezeExcitation, StochasticDepth } from "../nn/blocks.js";
import { Module } from "../nn/module.js";
import { AdaptiveAvgPool2d } from "../nn/pooling.js";
import { Sequential, type Layer } from "../nn/sequential.js";
import type { Tensor } from "../tensor/tensor.js";

export type EfficientNetArch = "efficientnet_b0";

export interface EfficientNetOptions {
  arch: EfficientNetArch;
  /** Stride 1 in the first conv, for 32x32 inputs (total stride 16 instead of 32). */
  cifarStem?: boolean;
  /** Input channels (3 for RGB, 1 for grayscale). */
  inChannels?: number;
  /** The last block's drop probability; block i of n drops with p * i / n (torchvision: 0.2). */
  stochasticDepth?: number;
}

/** One MBConv block. */
export interface MBConvSetting {
  inChannels: number;
  expanded: number;
  outChannels: number;
  kernel: number;
  stride: number;
  /** Squeeze channels of its SE: a quarter of the block's input channels. */
  squeeze: number;
  /** Its stochastic-depth probability. */
  dropProbability: number;
}

// expand ratio, kernel, stride, in, out, layers: the paper's table 1 (B0)
const B0: [number, number, number, number, number, number][] = [
  [1, 3, 1, 32, 16, 1],
  [6, 3, 2, 16, 24, 2],
  [6, 5, 2, 24, 40, 2],
  [6, 3, 2, 40, 80, 3],
  [6, 5, 1, 80, 112, 3],
  [6, 5, 2, 112, 192, 4],
  [6, 3, 1, 192, 320, 1],
];

/** The stages of B0 as block settings (what the model builds and the memory estimate counts). */
export function mbConvStages(stochasticDepth = 0.2): MBConvSetting[][] {
  if (!(stochasticDepth >= 0 && stochasticDepth <= 1)) throw new ArgumentError(`efficientNet: stochasticDepth must be in [0, 1], got ${stochasticDepth}`);
  const total = B0.reduce((n, row) => n + row[5], 0);
  let id = 0;
  return B0.map(([ratio, kernel, stride, inC, out, layers]) =>
    Array.from({ length: layers }, (_, i) => {
      const inChannels = makeDivisible(i === 0 ? inC : out, 8);
      return {
        inChannels,
        expanded: makeDivisible(inChannels * ratio, 8),
        outChannels: makeDivisible(out, 8),
        kernel,
        stride: i === 0 ? stride : 1,
        squeeze: Math.max(1, Math.floor(inChannels / 4)),
        dropProbability: (stochasticDepth * id++) / total,
      };
    }),
  );
}

/**
 * 1x1 expansion (ratio 6; none at ratio 1), depthwise k x k, squeeze-and-excitation (sigmoid
 * gate), 1x1 projection; when the shape is kept, stochastic depth and the residual. `block.*`.
 */
export class MBConv extends Module {
  readonly block: Sequential;
  readonly stochasticDepth: StochasticDepth;
  readonly residual: boolean;

  constructor(readonly setting: MBConvSetting) {
    super();
    const { inChannels, expanded, outChannels, kernel, stride, squeeze } = setting;
    const layers: Layer[] = [];
    if (expanded !== inChannels) layers.push(new ConvNormActivation({ inChannels, outChannels: expanded, kernelSize: 1, activation: "silu" }));
    layers.push(new ConvNormActivation({ inChannels: expanded, outChannels: expanded, kernelSize: kernel, stride, groups: expanded, activation: "silu" }));
    layers.push(new SqueezeExcitation({ channels: expanded, squeezeChannels: squeeze, activation: "silu", gate: "sigmoid" }));
    layers.push(new ConvNormActivation({ inChannels: expanded, outChannels, kernelSize: 1, activation: null }));
    this.block = this.registerModule("block", new Sequential(...layers));
    this.stochasticDepth = this.registerModule("stochastic_depth", new StochasticDepth(setting.dropProbability));
    this.residual = stride === 1 && inChannels === outChannels;
  }

  forward(x: Tensor): Tensor {
    const out = this.block.call(x); // (N, out, H/s, W/s)
    return this.residual ? this.stochasticDepth.call(out).add_(x) : out;
  }
}

export class EfficientNet extends Module {
  readonly options: Required<EfficientNetOptions>;
  readonly stages: MBConvSetting[][];
  /** Size of h: 4 x 320 = 1280. */
  readonly featureDim: number;
  /** Stem conv, seven stages of MBConv blocks, the last 1x1 conv: torchvision's `features`. */
  readonly features: Sequential;
  readonly avgpool = new AdaptiveAvgPool2d(1);

  constructor(options: EfficientNetOptions) {
    super();
    this.options = { cifarStem: false, inChannels: 3, stochasticDepth: 0.2, ...options };
    const { arch, cifarStem, inChannels, stochasticDepth } = this.options;
    if (arch !== "efficientnet_b0") throw new ArgumentError(`efficientNet: arch must be efficientnet_b0, got ${String(arch)}`);
    if (!Number.isInteger(inChannels) || inChannels < 1) throw new ArgumentError(`efficientNet: inChannels must be a positive integer, got ${inChannels}`);
    this.stages = mbConvStages(stochasticDepth);
    const first = (this.stages[0] as MBConvSetting[])[0] as MBConvSetting;
    const lastStage = this.stages[this.stages.length - 1] as MBConvSetting[];
    const last = (lastStage[lastStage.length - 1] as MBConvSetting).outChannels;
    this.featureDim = 4 * last;
    this.features = this.registerModule(
      "features",
      new Sequential(
        new ConvNormActivation({ inChannels, outChannels: first.inChannels, kernelSize: 3, stride: cifarStem ? 1 : 2, activation: "silu" }),
        ...this.stages.map((stage) => new Sequential(...stage.map((s) => new MBConv(s)))),
        new ConvNormActivation({ inChannels: last, outChannels: this.featureDim, kernelSize: 1, activation: "silu" }),
      ),
    );
    initConvBn_(this);
  }

  get inChannels(): number {
    return this.options.inChannels;
  }

  /** x: (N, inChannels, H, W) -> h: (N, featureDim) */
  forward(x: Tensor): Tensor {
    const shape = x.shape;
    if (shape.length !== 4 || shape[1] !== this.options.inChannels) {
      throw new ArgumentError(`EfficientNet expects input (N, ${this.options.inChannels}, H, W), got [${shape.join(", ")}]`);
    }
    return this.avgpool.call(this.features.call(x)).flatten(1); // (N, featureDim)
  }
}
