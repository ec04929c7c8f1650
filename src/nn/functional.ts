/** Stateless neural-network operators (the layers in src/nn call these). */
import { op } from "../tensor/op.js";
import { empty } from "../tensor/factory.js";
import { Tensor, wrap } from "../tensor/tensor.js";

const ops = {
  conv2d: op("aten::conv2d"),
  batchNorm: op("aten::batch_norm"),
  linear: op("aten::linear"),
  relu_: op("aten::relu_"),
  maxPool2d: op("aten::max_pool2d"),
  avgPool2d: op("aten::avg_pool2d"),
  adaptiveAvgPool2d: op("aten::adaptive_avg_pool2d"),
  dropout: op("aten::dropout"),
  crossEntropy: op("aten::cross_entropy_loss"),
  mseLoss: op("aten::mse_loss"),
  clampMin: op("aten::clamp_min"),
  affineGrid: op("aten::affine_grid_generator"),
  gridSampler: op("aten::grid_sampler"),
  reflectionPad2d: op("aten::reflection_pad2d"),
  hardswish: op("aten::hardswish"),
  hardsigmoid: op("aten::hardsigmoid"),
  silu: op("aten::silu"),
  bernoulli_: op("aten::bernoulli_", "float"),
};

type Pair = number | readonly [number, number];

function pair(v: Pair): number[] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

/** 2-d convolution. x: (N, Cin, H, W), weight: (Cout, Cin/groups, kH, kW). */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number } = {},
): Tensor {
  return wrap(
    ops.conv2d.call(x.id, weight.id, bias?.id ?? null, pair(options.stride ?? 1), pair(options.padding ?? 0), pair(options.dilation ?? 1), options.groups ?? 1),
  );
}

/**
 * Batch normalisation. In training mode it normalises by the batch statistics and updates
 * runningMean/runningVar in place (momentum-weighted, unbiased variance), as PyTorch does.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return wrap(ops.batchNorm.call(x.id, weight?.id ?? null, bias?.id ?? null, runningMean?.id ?? null, runningVar?.id ?? null, training, momentum, eps, true));
}

/** x @ weight^T + bias. x: (..., in), weight: (out, in). */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return wrap(ops.linear.call(x.id, weight.id, bias?.id ?? null));
}

export function relu(x: Tensor): Tensor {
  return x.relu();
}

/** ReLU that overwrites its input (saves memory; autograd allows it after conv/BN). Returns x. */
export function relu_(x: Tensor): Tensor {
  ops.relu_.callInPlace(x.id);
  return x;
}

/** x * relu6(x + 3) / 6 (Howard et al. 2019, MobileNetV3). */
export function hardswish(x: Tensor): Tensor {
  return wrap(ops.hardswish.call(x.id));
}

/** relu6(x + 3) / 6: the gate of MobileNetV3's squeeze-and-excitation. */
export function hardsigmoid(x: Tensor): Tensor {
  return wrap(ops.hardsigmoid.call(x.id));
}

/** x * sigmoid(x) (SiLU, "swish"; EfficientNet's activation). */
export function silu(x: Tensor): Tensor {
  return wrap(ops.silu.call(x.id));
}

/**
 * Stochastic depth (Huang et al. 2016) as torchvision's "row" mode: in training each sample's
 * residual branch is zeroed with probability p and the kept ones scaled by 1 / (1 - p); in
 * evaluation, and with p = 0, it is the identity (x itself is returned).
 */
export function stochasticDepth(x: Tensor, p: number, training: boolean): Tensor {
  if (!training || p === 0) return x;
  const survival = 1 - p;
  const noise = empty([x.size(0), ...Array<number>(x.ndim - 1).fill(1)], { dtype: x.dtype, device: x.device });
  ops.bernoulli_.callInPlace(noise.id, survival, null);
  if (survival > 0) noise.div_(survival);
  const out = x.mul(noise);
  noise.dispose();
  return out;
}

export function maxPool2d(x: Tensor, kernelSize: Pair, stride?: Pair, padding: Pair = 0): Tensor {
  return wrap(ops.maxPool2d.call(x.id, pair(kernelSize), pair(stride ?? kernelSize), pair(padding), [1, 1], false));
}

export function avgPool2d(x: Tensor, kernelSize: Pair, stride?: Pair, padding: Pair = 0): Tensor {
  return wrap(ops.avgPool2d.call(x.id, pair(kernelSize), pair(stride ?? kernelSize), pair(padding), false, true, null));
}

export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  return wrap(ops.adaptiveAvgPool2d.call(x.id, pair(outputSize)));
}

export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  return wrap(ops.dropout.call(x.id, p, training));
}

/** Mean cross-entropy of logits (N, C) against int64 class indices (N). */
export function crossEntropy(logits: Tensor, target: Tensor, options: { labelSmoothing?: number } = {}): Tensor {
  // reduction 1 = mean, ignore_index -100 as in PyTorch
  return wrap(ops.crossEntropy.call(logits.id, target.id, null, 1, -100, options.labelSmoothing ?? 0));
}

export function mseLoss(input: Tensor, target: Tensor): Tensor {
  return wrap(ops.mseLoss.call(input.id, target.id, 1));
}

/** x / max(||x||_p, eps) along `dim`, as torch.nn.functional.normalize. */
export function normalize(x: Tensor, dim = -1, p = 2, eps = 1e-12): Tensor {
  const norm = x.norm(p, dim, true);
  const denom = wrap(ops.clampMin.call(norm.id, eps));
  norm.dispose();
  const out = x.div(denom);
  denom.dispose();
  return out;
}

/**
 * Sampling grid for `gridSample` from affine maps theta (N, 2, 3) of normalised output
 * coordinates to input coordinates, for an output of `size` [N, C, H, W].
 */
export function affineGrid(theta: Tensor, size: readonly number[], alignCorners = false): Tensor {
  return wrap(ops.affineGrid.call(theta.id, [...size], alignCorners));
}

/** Samples x (N, C, H, W) at grid (N, Ho, Wo, 2) bilinearly, clamping at the border. */
export function gridSample(
  x: Tensor,
  grid: Tensor,
  options: { mode?: "bilinear" | "nearest"; padding?: "zeros" | "border" | "reflection"; alignCorners?: boolean } = {},
): Tensor {
  const mode = { bilinear: 0, nearest: 1 }[options.mode ?? "bilinear"];
  const padding = { zeros: 0, border: 1, reflection: 2 }[options.padding ?? "border"];
  return wrap(ops.gridSampler.call(x.id, grid.id, mode, padding, options.alignCorners ?? false));
}

/** Pads the last two dimensions by mirroring: [left, right, top, bottom]. */
export function reflectionPad2d(x: Tensor, padding: readonly [number, number, number, number]): Tensor {
  return wrap(ops.reflectionPad2d.call(x.id, [...padding]));
}
