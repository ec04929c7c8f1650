/**
 * The encoder f(.) (SimCLR section 2.1): any of the backbones, by torchvision's names. Each
 * returns the pooled features h, (N, featureDim), and keeps torchvision's state-dict names.
 * `buildEncoder` is the one place an architecture name becomes a network.
 */
import { SCHEMA, type Config } from "../config/schema.js";
import { ArgumentError } from "../errors.js";
import { EfficientNet, type EfficientNetArch } from "./efficientnet.js";
import { MobileNetV3, type MobileNetV3Arch } from "./mobilenetv3.js";
import { ResNet, type ResNetDepth } from "./resnet.js";

export type ResNetArch = "resnet18" | "resnet34" | "resnet50" | "resnet101" | "resnet152";
/** model.arch's values (config/schema.ts holds the list: the config layer sits below this one). */
export type EncoderArch = Config["model"]["arch"];

/** Every architecture, in the order docs list them. */
export const ENCODER_ARCHS = SCHEMA["model.arch"].choices as readonly EncoderArch[];

/** A ResNet architecture name -> its depth. */
export const RESNET_DEPTH: Record<ResNetArch, ResNetDepth> = { resnet18: 18, resnet34: 34, resnet50: 50, resnet101: 101, resnet152: 152 };

export const isResNetArch = (arch: EncoderArch): arch is ResNetArch => arch in RESNET_DEPTH;
export const isMobileNetV3Arch = (arch: EncoderArch): arch is MobileNetV3Arch => arch === "mobilenet_v3_small" || arch === "mobilenet_v3_large";

export type Encoder = ResNet | MobileNetV3 | EfficientNet;

// every name model.arch accepts has a network here, and no other
const _covered: Record<EncoderArch, true> = {} as Record<ResNetArch | MobileNetV3Arch | EfficientNetArch, true>;
void _covered;

export interface EncoderOptions {
  arch: EncoderArch;
  /** ResNets: channels of layer1 (torchvision: 64). */
  width?: number;
  /** MobileNetV3: the channel multiplier (torchvision's width_mult, default 1). */
  widthMult?: number;
  /** Stride 1 in the first conv (ResNets: a 3x3 conv and no max-pool), for 32x32 inputs. */
  cifarStem?: boolean;
  /** Input channels (3 for RGB, 1 for grayscale). */
  inChannels?: number;
  /** ResNets: each block's last BN starts at gamma = 0. */
  zeroInitResidual?: boolean;
  /** EfficientNet: the last block's stochastic-depth probability (default 0.2, torchvision's). */
  stochasticDepth?: number;
  /** MobileNetV3: batch norm's momentum (default 0.1; torchvision's is 0.01, see MobileNetV3Options). */
  bnMomentum?: number;
}

/** The encoder `options.arch` names; an option that does not apply to it is refused. */
export function buildEncoder(options: EncoderOptions): Encoder {
  const { arch, width, widthMult, cifarStem, inChannels, zeroInitResidual, stochasticDepth, bnMomentum } = options;
  const given = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  if (!ENCODER_ARCHS.includes(arch)) throw new ArgumentError(`buildEncoder: arch must be one of ${ENCODER_ARCHS.join(", ")}, got ${String(arch)}`);
  if (widthMult !== undefined && widthMult !== 1 && !isMobileNetV3Arch(arch)) {
    throw new ArgumentError(`buildEncoder: widthMult applies to mobilenet_v3_small and mobilenet_v3_large, not ${arch}`);
  }
  if (isResNetArch(arch)) return new ResNet({ depth: RESNET_DEPTH[arch], ...given({ width, cifarStem, inChannels, zeroInitResidual }) });
  if (isMobileNetV3Arch(arch)) return new MobileNetV3({ arch, ...given({ widthMult, cifarStem, inChannels, bnMomentum }) });
  return new EfficientNet({ arch, ...given({ cifarStem, inChannels, stochasticDepth }) });
}

/** "resnet18 width 16", "mobilenet_v3_small x0.5", "efficientnet_b0"; with ", CIFAR stem" where it has one. */
export function describeEncoder(encoder: Encoder): string {
  const stem = encoder.options.cifarStem ? ", CIFAR stem" : "";
  if (encoder instanceof ResNet) return `resnet${encoder.options.depth} width ${encoder.options.width}${stem}`;
  if (encoder instanceof MobileNetV3) return `${encoder.options.arch}${encoder.options.widthMult === 1 ? "" : ` x${encoder.options.widthMult}`}${stem}`;
  return `${encoder.options.arch}${stem}`;
}

/** The prefix of torchvision's classification layer for `arch`, which an encoder has not: fc. (ResNets) or classifier. */
export const classifierPrefix = (arch: EncoderArch): string => (isResNetArch(arch) ? "fc." : "classifier.");

/** The state-dict key of the first conv's weight, (out, inChannels, k, k): what tells a file's input channels. */
export const stemWeightKey = (arch: EncoderArch): string => (isResNetArch(arch) ? "conv1.weight" : "features.0.0.weight");
