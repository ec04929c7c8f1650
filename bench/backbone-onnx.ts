/**
 * What each backbone costs where it is deployed: parameters, the ONNX file (float32 and
 * float16 weights, BN folded), and inference images/s in onnxruntime-node (CPU, 2 threads,
 * batch 64, median of 5 timed runs after one warm-up), at random initialisation (the cost does
 * not depend on the weights). Prints one JSON line with a row per backbone.
 *   node dist/bench/backbone-onnx.js [--archs resnet18,...] [--size 32] [--channels 3] [--cifar-stem true]
 * An entry ARCH@W sets a ResNet's width (default 16) or a MobileNetV3's multiplier (default 1):
 * --archs resnet18@16,resnet18@8,mobilenet_v3_small@0.5
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { buildEncoder, manualSeed, type EncoderArch } from "../src/index.js";
import { encodeOnnx, fp16Weights } from "../src/run/onnx.js";
import { onnxGraph } from "../src/run/onnx-model.js";
import { median } from "./python.js";

const { values } = parseArgs({
  options: {
    archs: { type: "string", default: "resnet18,mobilenet_v3_small,mobilenet_v3_large,efficientnet_b0" },
    size: { type: "string", default: "32" },
    channels: { type: "string", default: "3" },
    "cifar-stem": { type: "string", default: "true" },
  },
});
const size = Number(values.size);
const channels = Number(values.channels);
const cifarStem = values["cifar-stem"] === "true";
const batch = 64;
const rows = [];
for (const spec of values.archs.split(",")) {
  const [arch, w] = spec.split("@") as [EncoderArch, string | undefined];
  manualSeed(0);
  const shape = arch.startsWith("resnet")
    ? { width: w === undefined ? 16 : Number(w) }
    : arch.startsWith("mobilenet") && w !== undefined
      ? { widthMult: Number(w) }
      : {};
  const encoder = buildEncoder({ arch, inChannels: channels, cifarStem, ...shape }).eval();
  const graph = onnxGraph(encoder, { inputSize: size });
  const fp32 = encodeOnnx(graph, { producerVersion: "bench" });
  const fp16 = encodeOnnx(fp16Weights(graph), { producerVersion: "bench" });
  const session = await ort.InferenceSession.create(fp32, { intraOpNumThreads: 2 });
  const input = new ort.Tensor(
    "float32",
    new Float32Array(batch * channels * size * size).map((_, i) => (i % 255) / 255),
    [batch, channels, size, size],
  );
  await session.run({ input });
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await session.run({ input });
    times.push(performance.now() - t0);
  }
  await session.release();
  rows.push({
    arch: spec,
    parameters: encoder.parameters().reduce((n, p) => n + p.numel, 0),
    feature_dim: encoder.featureDim,
    onnx_mb: Number((fp32.length / 2 ** 20).toFixed(2)),
    onnx_fp16_mb: Number((fp16.length / 2 ** 20).toFixed(2)),
    nodes: graph.nodes.length,
    ort_images_per_s: Number((batch / (median(times) / 1000)).toFixed(0)),
  });
  encoder.dispose();
}
console.log(
  JSON.stringify({
    bench: "backbone-onnx",
    config: { size, channels, cifarStem, batch, threads: 2, runtime: `onnxruntime-node ${ort.env.versions.node ?? ""}` },
    rows,
  }),
);
