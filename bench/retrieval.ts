/**
 * Retrieval quality of an encoder: for every test image, its 10 nearest training images by
 * cosine similarity of the features; precision@10 is the fraction of them in the query's
 * class (mean over queries). The run's encoder, the same network at random initialisation,
 * and raw pixels. Prints one JSON line.
 *   node dist/bench/retrieval.js --run runs/cifar-demo [--train 50000] [--test 10000]
 */
import { parseArgs } from "node:util";
import { dataShape, evaluationConfig, extractFeatures, loadDataset, loadEncoder, noGrad, pixelFeatures, tidy, type Tensor } from "../src/index.js";

const { values } = parseArgs({ options: { run: { type: "string" }, train: { type: "string" }, test: { type: "string" } } });
if (!values.run) throw new Error("--run DIR is required");
const config = evaluationConfig(values.run);
const train = await loadDataset({ ...config.data, limit: values.train ? Number(values.train) : null }, "train");
const test = await loadDataset({ ...config.data, limit: values.test ? Number(values.test) : null }, "test");
const trainLabels = train.labels.dataAsNumbers();
const testLabels = test.labels.dataAsNumbers();

/** Mean fraction of each query's 10 nearest bank rows (cosine) that share its label. */
function precisionAt10(bank: Tensor, queries: Tensor): number {
  let hits = 0;
  const b = tidy(() => bank.div(bank.norm(2, 1, true).clamp(1e-12))); // (Nb, D)
  for (let start = 0; start < queries.size(0); start += 500) {
    const idx = tidy(() =>
      noGrad(() => {
        const q = queries.narrow(0, start, Math.min(500, queries.size(0) - start)); // (B, D)
        const qn = q.div(q.norm(2, 1, true).clamp(1e-12));
        return qn.matmul(b.transpose(0, 1)).topk(10, 1).indices.dataAsNumbers(); // (B, 10)
      }),
    );
    for (let r = 0; r < idx.length / 10; r++) {
      for (let j = 0; j < 10; j++) if (trainLabels[idx[r * 10 + j] as number] === testLabels[start + r]) hits++;
    }
  }
  b.dispose();
  return hits / (10 * queries.size(0));
}

const [channels] = dataShape(config);
const result: Record<string, number | string> = {
  bench: "retrieval",
  run: values.run,
  data: config.data.name,
  train: train.images.size(0),
  test: test.images.size(0),
};
for (const [name, randomInit] of [
  ["simclr", false],
  ["random_init", true],
] as const) {
  const { model, encoder } = loadEncoder({ config, inChannels: channels, runDir: values.run, randomInit });
  const a = extractFeatures(encoder, train.images);
  const b = extractFeatures(encoder, test.images);
  result[`${name}_precision_at_10`] = precisionAt10(a, b);
  for (const t of [a, b]) t.dispose();
  model.dispose();
}
const pa = pixelFeatures(train.images);
const pb = pixelFeatures(test.images);
result.raw_pixels_precision_at_10 = precisionAt10(pa, pb);
console.log(JSON.stringify(result));
