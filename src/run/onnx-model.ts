/**
 * The ONNX graph of a SimCLR encoder f (and optionally the projection head g), written from
 * the TypeScript modules for inference: batch norm uses its running statistics, and by
 * default is folded into the convolution or linear layer before it,
 *   W' = W * s,  b' = beta - mean * s,  s = gamma / sqrt(var + eps)   (per output channel),
 * computed in float64 and stored as float32. `foldBatchNorm: false` keeps BatchNormalization
 * nodes instead (bench/onnx-export.ts measures both; folding is the default: fewer nodes,
 * a smaller file, faster in onnxruntime, same outputs to 1e-6).
 *
 * Input "input": float32 (batch, C, H, W), pixels / 255. Outputs "h" (batch, featureDim) and
 * with the head "z" (batch, outDim). The batch axis is dynamic. `names` renames the input and
 * h (the transformers.js layout: "pixel_values" in, "pooler_output" and "last_hidden_state" out).
 */
import type { BatchNorm1d, BatchNorm2d } from "../nn/batchnorm.js";
import type { Conv2d } from "../nn/conv.js";
import type { Linear } from "../nn/linear.js";
import type { ProjectionHead } from "../models/projection-head.js";
import { BasicBlock, Bottleneck, ResNet } from "../models/resnet.js";
import type { Encoder } from "../models/encoder.js";
import { InvertedResidual } from "../models/mobilenetv3.js";
import { MBConv } from "../models/efficientnet.js";
import { ConvNormActivation, SqueezeExcitation, StochasticDepth, type ActivationKind } from "../nn/blocks.js";
import { Sequential } from "../nn/sequential.js";
import type { Tensor } from "../tensor/tensor.js";
import type { OnnxGraph, OnnxNode, OnnxInitializer } from "./onnx.js";

export interface OnnxExportOptions {
  /** Also the projection head, giving output "z". */
  head?: ProjectionHead;
  /** Fold BN into the preceding layer (default) or keep BatchNormalization nodes. */
  foldBatchNorm?: boolean;
  /** Spatial size of the input (the batch axis is always dynamic). */
  inputSize: number;
  /**
   * The names of the graph's input and of h (default "input" and "h"). More names for h are
   * written as Identity copies (transformers.js reads "pooler_output" or "last_hidden_state").
   */
  names?: { input: string; h: readonly string[] };
  /**
   * Take 3-channel input for a 1-channel encoder, averaging the channels first (transformers.js
   * hands every image over as RGB; a grayscale image, R = G = B, gives exactly its gray).
   */
  rgbInput?: boolean;
}

function floats(t: Tensor): Float64Array {
  return t.dataAsNumbers();
}

/** Builds nodes and initialisers in order, naming values after the modules that make them. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];

  constructor(readonly fold: boolean) {}

  param(name: string, dims: number[], data: ArrayLike<number>): string {
    this.initializers.push({ name, dims, data: Float32Array.from(data) });
    return name;
  }

  node(op: string, inputs: string[], output: string, attributes?: OnnxNode["attributes"]): string {
    this.nodes.push({ op, inputs, outputs: [output], ...(attributes ? { attributes } : {}) });
    return output;
  }

  /** BN's per-channel scale s and shift beta - mean * s, in float64. */
  static bnAffine(bn: BatchNorm1d | BatchNorm2d): { scale: Float64Array; shift: Float64Array } {
    const mean = floats(bn.runningMean);
    const variance = floats(bn.runningVar);
    const gamma = bn.weight === null ? null : floats(bn.weight);
    const beta = bn.bias === null ? null : floats(bn.bias);
    const scale = new Float64Array(mean.length);
    const shift = new Float64Array(mean.length);
    for (let c = 0; c < mean.length; c++) {
      scale[c] = (gamma?.[c] ?? 1) / Math.sqrt((variance[c] as number) + bn.eps);
      shift[c] = (beta?.[c] ?? 0) - (mean[c] as number) * (scale[c] as number);
    }
    return { scale, shift };
  }

  /**
   * BN folded into the layer before it: weights w (out rows of any length) and bias b become
   * w * s per row and b * s + shift.
   */
  static fold(w: Float64Array, b: Float64Array, bn: BatchNorm1d | BatchNorm2d): { wf: Float64Array; bf: Float64Array } {
    const { scale, shift } = GraphBuilder.bnAffine(bn);
    const out = b.length;
    const per = w.length / out;
    const wf = new Float64Array(w.length);
    const bf = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      const s = scale[o] as number;
      for (let j = 0; j < per; j++) wf[o * per + j] = (w[o * per + j] as number) * s;
      bf[o] = (b[o] as number) * s + (shift[o] as number);
    }
    return { wf, bf };
  }

  batchNormNode(name: string, x: string, bn: BatchNorm1d | BatchNorm2d): string {
    const n = bn.runningMean.size(0);
    const gamma = bn.weight === null ? new Float64Array(n).fill(1) : floats(bn.weight);
    const beta = bn.bias === null ? new Float64Array(n) : floats(bn.bias);
    return this.node(
      "BatchNormalization",
      [
        x,
        this.param(`${name}.weight`, [n], gamma),
        this.param(`${name}.bias`, [n], beta),
        this.param(`${name}.running_mean`, [n], floats(bn.runningMean)),
        this.param(`${name}.running_var`, [n], floats(bn.runningVar)),
      ],
      name,
      { epsilon: { float: bn.eps } },
    );
  }

  /** conv -> BN, as one Conv with folded weights or as Conv + BatchNormalization. */
  convBn(name: string, x: string, conv: Conv2d, bn: BatchNorm2d, bnName: string): string {
    const { stride, padding, dilation, groups } = conv.options;
    const [out, inPerGroup, kh, kw] = conv.weight.shape as [number, number, number, number];
    const attributes = {
      kernel_shape: [kh, kw],
      strides: [stride, stride],
      pads: [padding, padding, padding, padding],
      dilations: [dilation, dilation],
      group: groups,
    };
    const w = floats(conv.weight); // (out, in/groups, kh, kw)
    const b = conv.bias === null ? new Float64Array(out) : floats(conv.bias);
    if (!this.fold) {
      const y = this.node(
        "Conv",
        [x, this.param(`${name}.weight`, [out, inPerGroup, kh, kw], w), ...(conv.bias === null ? [] : [this.param(`${name}.bias`, [out], b)])],
        name,
        attributes,
      );
      return this.batchNormNode(bnName, y, bn);
    }
    const { wf, bf } = GraphBuilder.fold(w, b, bn);
    return this.node("Conv", [x, this.param(`${name}.weight`, [out, inPerGroup, kh, kw], wf), this.param(`${name}.bias`, [out], bf)], bnName, attributes);
  }

  /** linear (no bias in the head) -> BN1d, as one Gemm (x W^T + b) or Gemm + BatchNormalization. */
  linearBn(name: string, x: string, linear: Linear, bn: BatchNorm1d, bnName: string): string {
    const [out, inF] = linear.weight.shape as [number, number];
    const w = floats(linear.weight); // (out, in)
    const b = linear.bias === null ? new Float64Array(out) : floats(linear.bias);
    if (!this.fold) {
      const y = this.node("Gemm", [x, this.param(`${name}.weight`, [out, inF], w), this.param(`${name}.bias`, [out], b)], name, { transB: 1 });
      return this.batchNormNode(bnName, y, bn);
    }
    const { wf, bf } = GraphBuilder.fold(w, b, bn);
    return this.node("Gemm", [x, this.param(`${name}.weight`, [out, inF], wf), this.param(`${name}.bias`, [out], bf)], bnName, { transB: 1 });
  }

  /** A conv with its own bias and no BN after it (squeeze-and-excitation's 1x1 convs). */
  conv(name: string, x: string, conv: Conv2d): string {
    const { stride, padding, dilation, groups } = conv.options;
    const [out, inPerGroup, kh, kw] = conv.weight.shape as [number, number, number, number];
    const b = conv.bias === null ? new Float64Array(out) : floats(conv.bias);
    return this.node("Conv", [x, this.param(`${name}.weight`, [out, inPerGroup, kh, kw], floats(conv.weight)), this.param(`${name}.bias`, [out], b)], name, {
      kernel_shape: [kh, kw],
      strides: [stride, stride],
      pads: [padding, padding, padding, padding],
      dilations: [dilation, dilation],
      group: groups,
    });
  }

  relu(x: string): string {
    return this.node("Relu", [x], `${x}.relu`);
  }

  /** ReLU, HardSwish (opset 14), or SiLU as x * Sigmoid(x) (ONNX has no SiLU operator). */
  activation(kind: ActivationKind, x: string): string {
    switch (kind) {
      case "relu":
        return this.relu(x);
      case "hardswish":
        return this.node("HardSwish", [x], `${x}.hardswish`);
      case "silu":
        return this.node("Mul", [x, this.node("Sigmoid", [x], `${x}.sigmoid`)], `${x}.silu`);
    }
  }
}

function block(g: GraphBuilder, prefix: string, m: BasicBlock | Bottleneck, x: string): string {
  let y = g.relu(g.convBn(`${prefix}.conv1`, x, m.conv1, m.bn1, `${prefix}.bn1`));
  if (m instanceof BasicBlock) {
    y = g.convBn(`${prefix}.conv2`, y, m.conv2, m.bn2, `${prefix}.bn2`);
  } else {
    y = g.relu(g.convBn(`${prefix}.conv2`, y, m.conv2, m.bn2, `${prefix}.bn2`));
    y = g.convBn(`${prefix}.conv3`, y, m.conv3, m.bn3, `${prefix}.bn3`);
  }
  let identity = x;
  if (m.downsample !== null) {
    const [conv, bn] = m.downsample.layers as unknown as [Conv2d, BatchNorm2d];
    identity = g.convBn(`${prefix}.downsample.0`, x, conv, bn, `${prefix}.downsample.1`);
  }
  return g.relu(g.node("Add", [y, identity], `${prefix}.add`));
}

/** The ResNet's stem and stages, from `first` to the last block's output. */
function resNetBody(g: GraphBuilder, encoder: ResNet, first: string): string {
  let x = g.relu(g.convBn("conv1", first, encoder.conv1, encoder.bn1, "bn1"));
  if (!encoder.options.cifarStem && encoder.maxpool !== null) {
    const { kernelSize, stride, padding } = encoder.maxpool.options;
    const p = padding ?? 0;
    const s = stride ?? kernelSize;
    x = g.node("MaxPool", [x], "maxpool", { kernel_shape: [kernelSize, kernelSize], strides: [s, s], pads: [p, p, p, p] });
  }
  encoder.layers.forEach((layer, stage) => {
    layer.layers.forEach((m, i) => {
      x = block(g, `layer${stage + 1}.${i}`, m as BasicBlock | Bottleneck, x);
    });
  });
  return x;
}

/** A module of the mobile networks (features.*), named after its state-dict prefix. */
function mobileModule(g: GraphBuilder, name: string, m: unknown, x: string): string {
  if (m instanceof ConvNormActivation) {
    const y = g.convBn(`${name}.0`, x, m.conv, m.bn, `${name}.1`);
    return m.activation === null ? y : g.activation(m.activation, y);
  }
  if (m instanceof InvertedResidual || m instanceof MBConv) {
    const y = mobileModule(g, `${name}.block`, m.block, x);
    // stochastic depth is the identity at inference
    return m.residual ? g.node("Add", [y, x], `${name}.add`) : y;
  }
  if (m instanceof SqueezeExcitation) {
    const pooled = g.node("GlobalAveragePool", [x], `${name}.avgpool`); // (N, C, 1, 1)
    const squeezed = g.activation(m.options.activation, g.conv(`${name}.fc1`, pooled, m.fc1));
    const excited = g.conv(`${name}.fc2`, squeezed, m.fc2);
    const gate =
      m.options.gate === "hardsigmoid"
        ? g.node("HardSigmoid", [excited], `${name}.gate`, { alpha: { float: 1 / 6 }, beta: { float: 0.5 } })
        : g.node("Sigmoid", [excited], `${name}.gate`);
    return g.node("Mul", [x, gate], `${name}.scale`);
  }
  if (m instanceof StochasticDepth) return x;
  if (m instanceof Sequential) return m.layers.reduce((y, layer, i) => mobileModule(g, `${name}.${i}`, layer, y), x);
  throw new Error(`onnxGraph: no ONNX form for ${(m as object).constructor.name} at ${name}`);
}

/** The inference graph of `encoder` (and `options.head`); parameter names follow the state dict. */
export function onnxGraph(encoder: Encoder, options: OnnxExportOptions): OnnxGraph {
  const g = new GraphBuilder(options.foldBatchNorm ?? true);
  const { inChannels } = encoder;
  const inputName = options.names?.input ?? "input";
  const [hName, ...hCopies] = options.names?.h ?? ["h"];
  const averaged = options.rgbInput === true && inChannels === 1;
  const first = averaged ? g.node("ReduceMean", [inputName], "gray", { axes: [1], keepdims: 1 }) : inputName; // (N, 1, H, W)
  const x = encoder instanceof ResNet ? resNetBody(g, encoder, first) : mobileModule(g, "features", encoder.features, first);
  const pooled = g.node("GlobalAveragePool", [x], "avgpool"); // (N, D, 1, 1)
  const h = g.node("Flatten", [pooled], hName ?? "h", { axis: 1 }); // (N, D)
  const outputs = [{ name: h, shape: ["batch", encoder.featureDim] as (number | string)[] }];
  for (const copy of hCopies) outputs.push({ name: g.node("Identity", [h], copy), shape: ["batch", encoder.featureDim] });
  if (options.head !== undefined) {
    let z = h;
    options.head.layers.forEach((layer, i) => {
      z = g.linearBn(`head.${i}.linear`, z, layer.linear, layer.bn, `head.${i}.bn`);
      if (!layer.final) z = g.relu(z);
    });
    g.node("Identity", [z], "z");
    outputs.push({ name: "z", shape: ["batch", options.head.outFeatures] });
  }
  return {
    name: "simclr_encoder",
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: inputName, shape: ["batch", averaged ? 3 : inChannels, options.inputSize, options.inputSize] }],
    outputs,
  };
}
