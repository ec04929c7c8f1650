/**
 * Float16 weights against float32 in an exported ONNX encoder: file sizes, the largest and the
 * median |feature difference|, and retrieval recall@10 of the fp16 features against the fp32
 * ones (each of N test images queries the other N - 1 by cosine; recall = the share of its fp32
 * top 10 that the fp16 top 10 keeps). Both files run in onnxruntime-node. Prints one JSON line.
 *   node dist/bench/onnx-fp16.js --run DIR [--images 2000] [--checkpoint FILE]
 */
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { evaluationConfig, exportOnnx, loadDataset, toUnitFloat } from "../src/index.js";
import { median } from "./python.js";

const { values } = parseArgs({ options: { run: { type: "string" }, images: { type: "string", default: "2000" }, checkpoint: { type: "string" } } });
if (values.run === undefined) {
  process.stderr.write("usage: node dist/bench/onnx-fp16.js --run DIR [--images 2000] [--checkpoint FILE]\n");
  process.exit(2);
}
const n = Number(values.images);
const config = evaluationConfig(values.run);
const dir = mkdtempSync(join(tmpdir(), "simclr-fp16-bench-"));
const common = { ...(values.checkpoint !== undefined ? { checkpoint: values.checkpoint } : {}), checkImages: 0 };
await exportOnnx(values.run, config, { out: join(dir, "fp32.onnx"), ...common });
await exportOnnx(values.run, config, { out: join(dir, "fp16.onnx"), fp16: true, ...common });

const test = await loadDataset({ ...config.data, limit: n }, "test");
const images = toUnitFloat(test.images); // (N, C, H, W)
const shape = images.shape;
const pixels = images.data() as Float32Array;

async function features(file: string): Promise<{ data: Float32Array; dim: number; seconds: number }> {
  const session = await ort.InferenceSession.create(readFileSync(file), { intraOpNumThreads: 2 });
  const batch = 256;
  const parts: Float32Array[] = [];
  let dim = 0;
  const t0 = performance.now();
  for (let start = 0; start < shape[0]!; start += batch) {
    const count = Math.min(batch, shape[0]! - start);
    const per = shape[1]! * shape[2]! * shape[3]!;
    const input = new ort.Tensor("float32", pixels.subarray(start * per, (start + count) * per), [count, shape[1]!, shape[2]!, shape[3]!]);
    const { h } = await session.run({ input });
    dim = h!.dims[1] as number;
    parts.push(h!.data as Float32Array);
  }
  const seconds = (performance.now() - t0) / 1000;
  await session.release();
  const data = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) data.set(p, (offset += p.length) - p.length);
  return { data, dim, seconds };
}

function unit(data: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i * dim < data.length; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += (data[i * dim + j] as number) ** 2;
    const norm = Math.sqrt(s) || 1;
    for (let j = 0; j < dim; j++) out[i * dim + j] = (data[i * dim + j] as number) / norm;
  }
  return out;
}

/** The indices of the 10 nearest others of every row, by cosine (exact). */
function top10(u: Float32Array, dim: number): Int32Array[] {
  const rows = u.length / dim;
  return Array.from({ length: rows }, (_, q) => {
    const scores: [number, number][] = [];
    for (let r = 0; r < rows; r++) {
      if (r === q) continue;
      let s = 0;
      for (let j = 0; j < dim; j++) s += (u[q * dim + j] as number) * (u[r * dim + j] as number);
      scores.push([s, r]);
    }
    scores.sort((a, b) => b[0] - a[0]);
    return Int32Array.from(scores.slice(0, 10), ([, r]) => r);
  });
}

const full = await features(join(dir, "fp32.onnx"));
const half = await features(join(dir, "fp16.onnx"));
const diffs = Array.from(full.data, (v, i) => Math.abs(v - (half.data[i] as number)));
const a = top10(unit(full.data, full.dim), full.dim);
const b = top10(unit(half.data, half.dim), half.dim);
const recall = a.reduce((s, row, q) => s + row.filter((r) => b[q]!.includes(r)).length / 10, 0) / a.length;
process.stdout.write(
  `${JSON.stringify({
    bench: "onnx-fp16",
    run: values.run,
    images: shape[0],
    feature_dim: full.dim,
    bytes_fp32: statSync(join(dir, "fp32.onnx")).size,
    bytes_fp16: statSync(join(dir, "fp16.onnx")).size,
    max_abs_diff: diffs.reduce((m, d) => Math.max(m, d), 0),
    median_abs_diff: median(diffs),
    max_abs_feature: full.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
    recall_at_10: Number(recall.toFixed(4)),
    onnxruntime_s_fp32: Number(full.seconds.toFixed(2)),
    onnxruntime_s_fp16: Number(half.seconds.toFixed(2)),
  })}\n`,
);
