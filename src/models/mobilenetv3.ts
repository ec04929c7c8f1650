/**
 * MobileNetV3 (Howard et al. 2019, "Searching for MobileNetV3", arXiv 1905.02244) as
 * torchvision builds it (models/mobilenetv3.py), without the classifier: forward returns the
 * pooled output of the last 1x1 conv, h (576 channels for small, 960 for large at width 1),
 * the representation SimCLR evaluates. Parameter names equal torchvision's (`features.*`), so
 * a torchvision state dict loads with strict=False missing only `classifier.*`.
 */
import { ArgumentError } from "../errors.js";
import { ConvNormActivation, initConvBn_, makeDivisible, SqueezeExcitation } from "../nn/blocks.js";
import { Module } from "../nn/module.js";
import { AdaptiveAvgPool2d } from "../nn/pooling.js";
import { Sequential, type Layer } from "../nn/sequential.js";
import type { Tensor } from "../tensor/tensor.js";

export type MobileNetV3Arch = "mobilenet_v3_small" | "mobilenet_v3_large";

export interface MobileNetV3Options {
  arch: MobileNetV3Arch;
  /** Channel multiplier, rounded to multiples of 8 (torchvision's width_mult; default 1). */
  widthMult?: number;
  /** Stride 1 in the first conv, for 32x32 inputs (total stride 16 instead of 32). */
  cifarStem?: boolean;
  /** Input channels (3 for RGB, 1 for grayscale). */
  inChannels?: number;
  /**
   * Batch norm's momentum. Default 0.1, PyTorch's and the ResNets', not torchvision's 0.01 for
   * this network: at 0.01 the running statistics trail the weights of a short run so far that
   * the features of BN in inference mode collapse (measured: Fashion-MNIST kNN top-1 0.15 after
   * 117 steps, against 0.70 at 0.1; docs/deploy.md). It is not part of the state dict.
   */
  bnMomentum?: number;
}

/** One inverted-residual block, channels already multiplied and rounded. */
export interface InvertedResidualSetting {
  inChannels: number;
  kernel: number;
  expanded: number;
  outChannels: number;
  se: boolean;
  activation: "relu" | "hardswish";
  stride: number;
}

// in, kernel, expanded, out, SE, activation (RE: ReLU, HS: hard-swish), stride: the paper's tables 1 and 2
type Row = [number, number, number, number, boolean, "RE" | "HS", number];
const TABLES: Record<MobileNetV3Arch, Row[]> = {
  mobilenet_v3_large: [
    [16, 3, 16, 16, false, "RE", 1],
    [16, 3, 64, 24, false, "RE", 2],
    [24, 3, 72, 24, false, "RE", 1],
    [24, 5, 72, 40, true, "RE", 2],
    [40, 5, 120, 40, true, "RE", 1],
    [40, 5, 120, 40, true, "RE", 1],
    [40, 3, 240, 80, false, "HS", 2],
    [80, 3, 200, 80, false, "HS", 1],
    [80, 3, 184, 80, false, "HS", 1],
    [80, 3, 184, 80, false, "HS", 1],
    [80, 3, 480, 112, true, "HS", 1],
    [112, 3, 672, 112, true, "HS", 1],
    [112, 5, 672, 160, true, "HS", 2],
    [160, 5, 960, 160, true, "HS", 1],
    [160, 5, 960, 160, true, "HS", 1],
  ],
  mobilenet_v3_small: [
    [16, 3, 16, 16, true, "RE", 2],
    [16, 3, 72, 24, false, "RE", 2],
    [24, 3, 88, 24, false, "RE", 1],
    [24, 5, 96, 40, true, "HS", 2],
    [40, 5, 240, 40, true, "HS", 1],
    [40, 5, 240, 40, true, "HS", 1],
    [40, 5, 120, 48, true, "HS", 1],
    [48, 5, 144, 48, true, "HS", 1],
    [48, 5, 288, 96, true, "HS", 2],
    [96, 5, 576, 96, true, "HS", 1],
    [96, 5, 576, 96, true, "HS", 1],
  ],
};

/** MobileNetV3's batch-norm eps, torchvision's (it changes the outputs: trained weights expect it). */
const BN_EPS = 0.001;

/** The blocks of `arch` at `widthMult`: what the model builds and the memory estimate counts. */
export function invertedResidualSettings(arch: MobileNetV3Arch, widthMult = 1): InvertedResidualSetting[] {
  const table = TABLES[arch];
  if (table === undefined) throw new ArgumentError(`mobilenetV3: arch must be mobilenet_v3_small or mobilenet_v3_large, got ${String(arch)}`);
  if (!(widthMult > 0) || !Number.isFinite(widthMult)) throw new ArgumentError(`mobilenetV3: widthMult must be a positive number, got ${widthMult}`);
  const adjust = (c: number) => makeDivisible(c * widthMult, 8);
  return table.map(([inC, kernel, expanded, out, se, act, stride]) => ({
    inChannels: adjust(inC),
    kernel,
    expanded: adjust(expanded),
    outChannels: adjust(out),
    se,
    activation: act === "HS" ? "hardswish" : "relu",
    stride,
  }));
}

/** Squeeze channels of a block's SE: a quarter of the expanded channels, rounded to 8. */
export const mobileNetSqueezeChannels = (expanded: number) => makeDivisible(Math.floor(expanded / 4), 8);

/**
 * 1x1 expansion (when it widens), depthwise k x k (with the stride), squeeze-and-excitation
 * (hard-sigmoid gate), 1x1 projection; residual when the shape is kept. Named `block.*`.
 */
export class InvertedResidual extends Module {
  readonly block: Sequential;
  readonly residual: boolean;

  constructor(
    readonly setting: InvertedResidualSetting,
    bnMomentum = 0.1,
  ) {
    super();
    const { inChannels, kernel, expanded, outChannels, se, activation, stride } = setting;
    const BN = { eps: BN_EPS, momentum: bnMomentum };
    const layers: Layer[] = [];
    if (expanded !== inChannels) layers.push(new ConvNormActivation({ inChannels, outChannels: expanded, kernelSize: 1, activation, bn: BN }));
    layers.push(new ConvNormActivation({ inChannels: expanded, outChannels: expanded, kernelSize: kernel, stride, groups: expanded, activation, bn: BN }));
    if (se)
      layers.push(new SqueezeExcitation({ channels: expanded, squeezeChannels: mobileNetSqueezeChannels(expanded), activation: "relu", gate: "hardsigmoid" }));
    layers.push(new ConvNormActivation({ inChannels: expanded, outChannels, kernelSize: 1, activation: null, bn: BN }));
    this.block = this.registerModule("block", new Sequential(...layers));
    this.residual = stride === 1 && inChannels === outChannels;
  }

  forward(x: Tensor): Tensor {
    const out = this.block.call(x); // (N, out, H/s, W/s)
    return this.residual ? out.add_(x) : out;
  }
}

export class MobileNetV3 extends Module {
  readonly options: Required<MobileNetV3Options>;
  readonly settings: InvertedResidualSetting[];
  /** Size of h: six times the last block's output channels (576 small, 960 large at width 1). */
  readonly featureDim: number;
  /** Stem conv, the blocks, the last 1x1 conv: torchvision's `features`. */
  readonly features: Sequential;
  readonly avgpool = new AdaptiveAvgPool2d(1);

  constructor(options: MobileNetV3Options) {
    super();
    this.options = { widthMult: 1, cifarStem: false, inChannels: 3, bnMomentum: 0.1, ...options };
    const { arch, widthMult, cifarStem, inChannels, bnMomentum } = this.options;
    const BN = { eps: BN_EPS, momentum: bnMomentum };
    if (!Number.isInteger(inChannels) || inChannels < 1) throw new ArgumentError(`mobilenetV3: inChannels must be a positive integer, got ${inChannels}`);
    this.settings = invertedResidualSettings(arch, widthMult);
    const first = this.settings[0] as InvertedResidualSetting;
    const last = (this.settings[this.settings.length - 1] as InvertedResidualSetting).outChannels;
    this.featureDim = 6 * last;
    this.features = this.registerModule(
      "features",
      new Sequential(
        new ConvNormActivation({ inChannels, outChannels: first.inChannels, kernelSize: 3, stride: cifarStem ? 1 : 2, activation: "hardswish", bn: BN }),
        ...this.settings.map((s) => new InvertedResidual(s, bnMomentum)),
        new ConvNormActivation({ inChannels: last, outChannels: this.featureDim, kernelSize: 1, activation: "hardswish", bn: BN }),
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
      throw new ArgumentError(`MobileNetV3 expects input (N, ${this.options.inChannels}, H, W), got [${shape.join(", ")}]`);
    }
    return this.avgpool.call(this.features.call(x)).flatten(1); // (N, featureDim)
  }
}
