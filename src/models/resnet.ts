/**
 * ResNets (He et al. 2016) as torchvision builds them (v1.5: stride on the 3x3 conv of a
 * bottleneck), without the final fc: forward returns the pooled features h, the
 * representation SimCLR evaluates (paper section 2.1). Parameter names equal torchvision's,
 * so state dicts move between this package and PyTorch.
 */
import { AdaptiveAvgPool2d, MaxPool2d } from "../nn/pooling.js";
import { BatchNorm2d } from "../nn/batchnorm.js";
import { Conv2d } from "../nn/conv.js";
import { relu_ } from "../nn/functional.js";
import { constant_ } from "../nn/init.js";
import { initConvBn_ } from "../nn/blocks.js";
import { Module } from "../nn/module.js";
import { Sequential } from "../nn/sequential.js";
import type { Tensor } from "../tensor/tensor.js";
import { ArgumentError } from "../errors.js";

export type ResNetDepth = 18 | 34 | 50 | 101 | 152;

export interface ResNetOptions {
  depth: ResNetDepth;
  /** Channels of layer1; layers 2-4 double it each time (torchvision: 64). */
  width?: number;
  /** 3x3 stride-1 first conv and no max-pool, for 32x32 inputs (SimCLR Appendix B.9). */
  cifarStem?: boolean;
  /** Input channels (3 for RGB, 1 for grayscale). */
  inChannels?: number;
  /** Start each block's last BN at gamma = 0, so blocks begin as identities (Goyal et al. 2017). */
  zeroInitResidual?: boolean;
}

const BLOCKS: Record<ResNetDepth, { kind: "basic" | "bottleneck"; counts: [number, number, number, number] }> = {
  18: { kind: "basic", counts: [2, 2, 2, 2] },
  34: { kind: "basic", counts: [3, 4, 6, 3] },
  50: { kind: "bottleneck", counts: [3, 4, 6, 3] },
  101: { kind: "bottleneck", counts: [3, 4, 23, 3] },
  152: { kind: "bottleneck", counts: [3, 8, 36, 3] },
};

function conv3x3(inChannels: number, outChannels: number, stride = 1): Conv2d {
  return new Conv2d({ inChannels, outChannels, kernelSize: 3, stride, padding: 1, bias: false });
}

function conv1x1(inChannels: number, outChannels: number, stride = 1): Conv2d {
  return new Conv2d({ inChannels, outChannels, kernelSize: 1, stride, bias: false });
}

/** conv1x1 + BN on the shortcut when the block changes shape. */
function downsample(inChannels: number, outChannels: number, stride: number): Sequential | null {
  if (stride === 1 && inChannels === outChannels) return null;
  return new Sequential(conv1x1(inChannels, outChannels, stride), new BatchNorm2d({ numFeatures: outChannels }));
}

/** Two 3x3 convs with a residual connection (ResNet-18/34). */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inChannels: number, channels: number, stride: number) {
    super();
    this.conv1 = this.registerModule("conv1", conv3x3(inChannels, channels, stride));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d({ numFeatures: channels }));
    this.conv2 = this.registerModule("conv2", conv3x3(channels, channels));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d({ numFeatures: channels }));
    const ds = downsample(inChannels, channels, stride);
    this.downsample = ds === null ? null : this.registerModule("downsample", ds);
  }

  get lastBn(): BatchNorm2d {
    return this.bn2;
  }

  // As torchvision's: Module.call frees the intermediates when the block returns.
  forward(x: Tensor): Tensor {
    let out = relu_(this.bn1.call(this.conv1.call(x))); // (N, C, H/s, W/s)
    out = this.bn2.call(this.conv2.call(out));
    const identity = this.downsample === null ? x : this.downsample.call(x);
    return relu_(out.add_(identity));
  }
}

/** 1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4 (ResNet-50/101/152). */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inChannels: number, channels: number, stride: number) {
    super();
    const out = channels * Bottleneck.expansion;
    this.conv1 = this.registerModule("conv1", conv1x1(inChannels, channels));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d({ numFeatures: channels }));
    this.conv2 = this.registerModule("conv2", conv3x3(channels, channels, stride));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d({ numFeatures: channels }));
    this.conv3 = this.registerModule("conv3", conv1x1(channels, out));
    this.bn3 = this.registerModule("bn3", new BatchNorm2d({ numFeatures: out }));
    const ds = downsample(inChannels, out, stride);
    this.downsample = ds === null ? null : this.registerModule("downsample", ds);
  }

  get lastBn(): BatchNorm2d {
    return this.bn3;
  }

  forward(x: Tensor): Tensor {
    let out = relu_(this.bn1.call(this.conv1.call(x)));
    out = relu_(this.bn2.call(this.conv2.call(out))); // (N, C, H/s, W/s)
    out = this.bn3.call(this.conv3.call(out));
    const identity = this.downsample === null ? x : this.downsample.call(x);
    return relu_(out.add_(identity));
  }
}

type Block = BasicBlock | Bottleneck;

export class ResNet extends Module {
  readonly options: Required<ResNetOptions>;
  /** Size of h, the pooled representation: 8 x width (basic) or 32 x width (bottleneck). */
  readonly featureDim: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool: MaxPool2d | null;
  readonly layers: [Sequential, Sequential, Sequential, Sequential];
  readonly avgpool = new AdaptiveAvgPool2d(1);

  constructor(options: ResNetOptions) {
    super();
    this.options = { width: 64, cifarStem: false, inChannels: 3, zeroInitResidual: false, ...options };
    const { depth, width, cifarStem, inChannels, zeroInitResidual } = this.options;
    const spec = BLOCKS[depth];
    if (spec === undefined) throw new ArgumentError(`resnet: depth must be one of 18, 34, 50, 101, 152, got ${depth}`);
    if (!Number.isInteger(width) || width < 1) throw new ArgumentError(`resnet: width must be a positive integer, got ${width}`);
    if (!Number.isInteger(inChannels) || inChannels < 1) throw new ArgumentError(`resnet: inChannels must be a positive integer, got ${inChannels}`);

    this.conv1 = this.registerModule(
      "conv1",
      cifarStem
        ? new Conv2d({ inChannels, outChannels: width, kernelSize: 3, stride: 1, padding: 1, bias: false })
        : new Conv2d({ inChannels, outChannels: width, kernelSize: 7, stride: 2, padding: 3, bias: false }),
    );
    this.bn1 = this.registerModule("bn1", new BatchNorm2d({ numFeatures: width }));
    this.maxpool = cifarStem ? null : new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 });

    const Block = spec.kind === "basic" ? BasicBlock : Bottleneck;
    let channelsIn = width;
    const stages = spec.counts.map((count, stage) => {
      const channels = width * 2 ** stage;
      const blocks: Block[] = [];
      for (let i = 0; i < count; i++) {
        blocks.push(new Block(channelsIn, channels, i === 0 && stage > 0 ? 2 : 1));
        channelsIn = channels * Block.expansion;
      }
      return this.registerModule(`layer${stage + 1}`, new Sequential(...blocks));
    });
    this.layers = stages as [Sequential, Sequential, Sequential, Sequential];
    this.featureDim = channelsIn;

    // torchvision's initialisation: He normal (fan_out) for convs, BN at gamma 1, beta 0.
    initConvBn_(this);
    // A second pass, as in torchvision: the loop above visits a block before its BNs.
    for (const [, m] of this.namedModules()) {
      if (zeroInitResidual && (m instanceof BasicBlock || m instanceof Bottleneck) && m.lastBn.weight !== null) {
        constant_(m.lastBn.weight, 0);
      }
    }
  }

  get inChannels(): number {
    return this.options.inChannels;
  }

  /** x: (N, inChannels, H, W) -> h: (N, featureDim) */
  forward(x: Tensor): Tensor {
    const shape = x.shape;
    if (shape.length !== 4 || shape[1] !== this.options.inChannels) {
      throw new ArgumentError(`ResNet expects input (N, ${this.options.inChannels}, H, W), got [${shape.join(", ")}]`);
    }
    let out = relu_(this.bn1.call(this.conv1.call(x))); // (N, width, H', W')
    if (this.maxpool !== null) out = this.maxpool.call(out); // (N, width, H'/2, W'/2)
    for (const layer of this.layers) out = layer.call(out);
    return this.avgpool.call(out).flatten(1); // (N, featureDim)
  }
}

/** A ResNet encoder f(.) returning pooled features h (no classification layer). */
export function resnet(options: ResNetOptions): ResNet {
  return new ResNet(options);
}
