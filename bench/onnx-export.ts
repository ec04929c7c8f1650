/**
 * ONNX export with batch norm folded into the convolutions against kept as
 * BatchNormalization nodes: nodes, file size, onnxruntime-node inference time (median of
 * rounds, 2 intra-op threads as libtorch here) and the largest difference from libtorch,
 * with libtorch's own inference time beside them. Prints one JSON line.
 *   node dist/bench/onnx-export.js [--depth 18] [--width 64] [--size 32] [--channels 3] [--batch 64] [--rounds 7]
 */
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { SimCLRModel, getNumThreads, manualSeed, noGrad, rand, type ResNetArch } from "../src/index.js";
import { encodeOnnx } from "../src/run/onnx.js";
import { onnxGraph } from "../src/run/onnx-model.js";
import { median } from "./python.js";

const { values } = parseArgs({
  options: {
    depth: { type: "string", default: "18" },
    width: { type: "string", default: "64" },
    size: { type: "string", default: "32" },
    channels: { type: "string", default: "3" },
    batch: { type: "string", default: "64" },
    rounds: { type: "string", default: "7" },
  },
});
const cfg = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number(v)])) as Record<keyof typeof values, number>;

manualSeed(0);
const model = new SimCLRModel({
  arch: `resnet${cfg.depth}` as ResNetArch,
  width: cfg.width,
  cifarStem: true,
  inChannels: cfg.channels,
  zeroInitResidual: false,
  headLayers: 2,
  outDim: 128,
});
// running statistics from a few training-mode passes, as a trained model has
noGrad(() => {
  for (let i = 0; i < 5; i++) {
    const x = rand([32, cfg.channels, cfg.size, cfg.size]);
    const { h, z } = model.call(x);
    for (const t of [x, h, z]) t.dispose();
  }
});
model.eval();
const x = rand([cfg.batch, cfg.channels, cfg.size, cfg.size]); // (B, C, H, W)
const torchTimes: number[] = [];
let expected: Float32Array<ArrayBufferLike> = new Float32Array(0);
for (let r = 0; r < cfg.rounds + 1; r++) {
  const t0 = performance.now();
  const h = noGrad(() => model.encoder.call(x)); // (B, D)
  if (r > 0) torchTimes.push(performance.now() - t0);
  expected = h.data() as Float32Array;
  h.dispose();
}

const dir = mkdtempSync(join(tmpdir(), "simclr-onnx-bench-"));
const variants: Record<string, unknown> = {};
for (const fold of [true, false]) {
  const graph = onnxGraph(model.encoder, { inputSize: cfg.size, foldBatchNorm: fold });
  const file = join(dir, `${fold ? "folded" : "nodes"}.onnx`);
  writeFileSync(file, encodeOnnx(graph, { producerVersion: "bench" }));
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: getNumThreads(), interOpNumThreads: 1 });
  const feed = { input: new ort.Tensor("float32", x.data() as Float32Array, x.shape) };
  const times: number[] = [];
  let maxAbsDiff = 0;
  for (let r = 0; r < cfg.rounds + 1; r++) {
    const t0 = performance.now();
    const out = await session.run(feed);
    if (r > 0) times.push(performance.now() - t0);
    const h = out.h?.data as Float32Array;
    maxAbsDiff = 0;
    for (let i = 0; i < h.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs((h[i] as number) - (expected[i] as number)));
  }
  await session.release();
  variants[fold ? "folded" : "bn_nodes"] = {
    nodes: graph.nodes.length,
    bytes: statSync(file).size,
    ort_ms: median(times),
    images_per_s: Math.round((cfg.batch / median(times)) * 1000),
    max_abs_diff_vs_libtorch: maxAbsDiff,
  };
}
console.log(
  JSON.stringify({
    bench: "onnx-export",
    ...cfg,
    threads: getNumThreads(),
    onnxruntime: ort.env.versions.common,
    libtorch_ms: median(torchTimes),
    libtorch_images_per_s: Math.round((cfg.batch / median(torchTimes)) * 1000),
    ...variants,
  }),
);
