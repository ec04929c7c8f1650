/**
 * The SimCLR augmentation pipeline (paper section 3 and Appendix A), batched on the model's
 * device: random resized crop + horizontal flip, color jitter (p = 0.8, random order),
 * random grayscale (p = 0.2), Gaussian blur (p = 0.5, ImageNet only), pixels in [0, 1].
 * Every view draws its own parameters from libtorch's generator, so `manualSeed` makes
 * augmentation repeatable.
 */
import { arange, rand } from "../tensor/factory.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { gaussianBlur } from "./blur.js";
import { colorJitter_, fusedColorDistortion_, randomGrayscale, type JitterOp, type JitterParams } from "./color.js";
import { resizedCrop, sampleCropBoxes, type CropBoxes } from "./crop.js";
import { toUnitFloat } from "../tensor/pixels.js";
import { ArgumentError } from "../errors.js";

export interface AugmentOptions {
  /** Output side in pixels; null keeps the input's side. */
  size: number | null;
  /** Crop area fraction range (paper: 0.08-1). */
  cropScale: [number, number];
  /** Crop aspect ratio range (paper: 3/4-4/3). */
  cropRatio: [number, number];
  flipProbability: number;
  /** Probability of applying color jitter to a view (paper: 0.8). */
  jitterProbability: number;
  /** Color distortion strength s (paper: 1 for ImageNet, 0.5 for CIFAR). */
  jitterStrength: number;
  /** Jitter magnitudes before scaling by s (paper: 0.8, 0.8, 0.8, 0.2). */
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  /** Probability of converting a view to grayscale (paper: 0.2; 0 for 1-channel data). */
  grayscaleProbability: number;
  /** Probability of blurring a view (paper: 0.5 on ImageNet, not used on CIFAR). */
  blurProbability: number;
  blurSigma: [number, number];
  /** Kernel size as a fraction of the image side (paper: 10%). */
  blurKernelFraction: number;
  /** On the CPU, run jitter + grayscale in the fused native kernel (same results, faster). */
  fusedCpuKernel: boolean;
}

export type AugmentPreset = "imagenet" | "cifar" | "grayscale";

const BASE: AugmentOptions = {
  size: null,
  cropScale: [0.08, 1],
  cropRatio: [3 / 4, 4 / 3],
  flipProbability: 0.5,
  jitterProbability: 0.8,
  jitterStrength: 1,
  brightness: 0.8,
  contrast: 0.8,
  saturation: 0.8,
  hue: 0.2,
  grayscaleProbability: 0.2,
  blurProbability: 0.5,
  blurSigma: [0.1, 2],
  blurKernelFraction: 0.1,
  fusedCpuKernel: true,
};

/** The paper's settings: ImageNet (s = 1, blur), CIFAR (s = 0.5, no blur), and 1-channel data. */
export const AUGMENT_PRESETS: Record<AugmentPreset, AugmentOptions> = {
  imagenet: { ...BASE },
  cifar: { ...BASE, jitterStrength: 0.5, blurProbability: 0 },
  // Fashion-MNIST and other grayscale data: no saturation, hue or grayscale step.
  grayscale: { ...BASE, jitterStrength: 0.5, blurProbability: 0, saturation: 0, hue: 0, grayscaleProbability: 0 },
};

/** Every random draw for a batch of views, kept so tests can check their statistics. */
export interface AugmentParams {
  crop: CropBoxes;
  flip: Tensor;
  jitter: JitterParams;
  grayscale: Tensor;
  blurSigma: Tensor;
  blur: Tensor;
}

/**
 * Views [start, start + count) of `params`: with data parallelism every rank draws the
 * parameters of the whole global batch (the same draws as one process) and applies its slice,
 * so a view's augmentation does not depend on the number of processes.
 */
export function sliceAugmentParams(params: AugmentParams, start: number, count: number): AugmentParams {
  const cut = (t: Tensor) => t.narrow(0, start, count);
  const { jitter } = params;
  const factors = { ...jitter.factors };
  for (const op of jitter.ops) {
    const f = factors[op];
    if (f !== undefined) factors[op] = cut(f);
  }
  return {
    crop: { top: cut(params.crop.top), left: cut(params.crop.left), height: cut(params.crop.height), width: cut(params.crop.width) },
    flip: cut(params.flip),
    jitter: { ops: jitter.ops, factors, apply: cut(jitter.apply), order: cut(jitter.order) },
    grayscale: cut(params.grayscale),
    blurSigma: cut(params.blurSigma),
    blur: cut(params.blur),
  };
}

function checkRange(name: string, [lo, hi]: [number, number], min: number, max: number): void {
  if (!(lo >= min && hi <= max && lo <= hi)) throw new ArgumentError(`augment: ${name} must be [lo, hi] with ${min} <= lo <= hi <= ${max}, got [${lo}, ${hi}]`);
}

function checkProbability(name: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new ArgumentError(`augment: ${name} must be in [0, 1], got ${p}`);
}

export class SimCLRAugment {
  readonly options: AugmentOptions;

  constructor(options: Partial<AugmentOptions> & { preset?: AugmentPreset } = {}) {
    const { preset = "imagenet", ...rest } = options;
    if (!Object.hasOwn(AUGMENT_PRESETS, preset)) throw new ArgumentError(`augment: unknown preset '${preset}' (imagenet, cifar, grayscale)`);
    // An option given as undefined keeps the preset's value.
    const given = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    this.options = { ...AUGMENT_PRESETS[preset], ...given };
    const o = this.options;
    if (o.size !== null && !(Number.isInteger(o.size) && o.size > 0))
      throw new ArgumentError(`augment: size must be a positive integer or null, got ${o.size}`);
    checkRange("cropScale", o.cropScale, Number.MIN_VALUE, 1);
    checkRange("cropRatio", o.cropRatio, Number.MIN_VALUE, Infinity);
    checkRange("blurSigma", o.blurSigma, Number.MIN_VALUE, Infinity);
    for (const k of ["flipProbability", "jitterProbability", "grayscaleProbability", "blurProbability"] as const) checkProbability(k, o[k]);
    for (const k of ["jitterStrength", "brightness", "contrast", "saturation", "blurKernelFraction"] as const) {
      if (!(o[k] >= 0)) throw new ArgumentError(`augment: ${k} must be >= 0, got ${o[k]}`);
    }
    if (!(o.hue * o.jitterStrength >= 0 && o.hue * o.jitterStrength <= 0.5))
      throw new ArgumentError(`augment: hue x jitterStrength must be in [0, 0.5], got ${o.hue * o.jitterStrength}`);
  }

  /** Jitter ops that change anything for `channels`-channel images. */
  jitterOps(channels: number): JitterOp[] {
    const o = this.options;
    const ops: JitterOp[] = [];
    if (o.brightness > 0) ops.push("brightness");
    if (o.contrast > 0) ops.push("contrast");
    if (channels === 3 && o.saturation > 0) ops.push("saturation");
    if (channels === 3 && o.hue > 0) ops.push("hue");
    return ops;
  }

  /** Draws every random parameter for n views of height x width images. */
  sample(n: number, height: number, width: number, channels: number, device?: string): AugmentParams {
    const o = this.options;
    const s = o.jitterStrength;
    const uniform = (lo: number, hi: number) =>
      rand([n], { device })
        .mul(hi - lo)
        .add(lo);
    const ops = this.jitterOps(channels);
    const factors: Record<JitterOp, Tensor | undefined> = { brightness: undefined, contrast: undefined, saturation: undefined, hue: undefined };
    for (const op of ops) {
      const m = op === "hue" ? o.hue * s : o[op] * s;
      factors[op] = op === "hue" ? uniform(-m, m) : uniform(Math.max(0, 1 - m), 1 + m);
    }
    return {
      crop: sampleCropBoxes(n, height, width, { scale: o.cropScale, ratio: o.cropRatio }, device),
      flip: rand([n], { device }).lt(o.flipProbability),
      jitter: {
        ops,
        factors,
        apply: rand([n], { device }).lt(o.jitterProbability),
        // a uniformly random permutation of the ops per view
        order: ops.length > 0 ? rand([n, ops.length], { device }).argsort(1) : arange(0, 0, 1, { device }).reshape([n, 0]),
      },
      grayscale: rand([n], { device }).lt(channels === 3 ? o.grayscaleProbability : 0),
      blurSigma: uniform(o.blurSigma[0], o.blurSigma[1]),
      blur: rand([n], { device }).lt(o.blurProbability),
    };
  }

  /** Augments x (N, C, H, W), uint8 or float in [0, 1], with `params`: float32 (N, C, S, S). */
  apply(x: Tensor, params: AugmentParams): Tensor {
    const o = this.options;
    return tidy(() => {
      const channels = x.size(1);
      const height = x.size(2);
      const pixels = toUnitFloat(x); // (N, C, H, W) in [0, 1]
      const size = o.size ?? height;
      const cropped = resizedCrop(pixels, params.crop, params.flip, size); // (N, C, S, S)
      const grayscaleStep = channels === 3 && o.grayscaleProbability > 0;
      let gray: Tensor;
      if (o.fusedCpuKernel && cropped.device === "cpu") {
        gray = fusedColorDistortion_(cropped, params.jitter, grayscaleStep ? params.grayscale : null);
      } else {
        colorJitter_(cropped, params.jitter);
        gray = grayscaleStep ? randomGrayscale(cropped, params.grayscale) : cropped;
      }
      const kernel = Math.round(size * o.blurKernelFraction);
      const blurred = o.blurProbability > 0 ? gaussianBlur(gray, params.blurSigma, params.blur, kernel) : gray;
      return blurred.clamp(0, 1);
    });
  }

  /** One augmented view of every image in x: float32 (N, C, S, S). */
  view(x: Tensor): Tensor {
    const shape = x.shape;
    if (shape.length !== 4 || (shape[1] !== 1 && shape[1] !== 3) || (shape[2] ?? 0) < 1 || (shape[3] ?? 0) < 1) {
      throw new ArgumentError(`SimCLRAugment.view expects images (N, C, H, W) with C 1 or 3 and H, W >= 1, got shape [${shape.join(", ")}]`);
    }
    return tidy(() => {
      return this.apply(x, this.sample(x.size(0), x.size(2), x.size(3), x.size(1), x.device));
    });
  }
}
