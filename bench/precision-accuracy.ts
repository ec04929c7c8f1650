/**
 * fp32 against bf16 autocast after the same training budget: pretrain the same config with
 * the same seed at both precisions, then compare speed and the kNN top-1 of h (k = 200,
 * T = 0.1) on Fashion-MNIST. Prints one JSON line.
 *   node dist/bench/precision-accuracy.js [--limit 2560] [--epochs 1] [--batch 64]
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { extractFeatures } from "../src/eval/features.js";
import { knnClassify } from "../src/eval/knn.js";
import { ProgressReporter, loadConfig, loadDataset, pretrain } from "../src/index.js";

const { values } = parseArgs({
  options: { limit: { type: "string", default: "2560" }, epochs: { type: "string", default: "1" }, batch: { type: "string", default: "64" } },
});
const bank = await loadDataset({ name: "fashion-mnist", path: null, limit: 5000, size: 32, channels: 1, skipBad: false }, "train");
const queries = await loadDataset({ name: "fashion-mnist", path: null, limit: 2000, size: 32, channels: 1, skipBad: false }, "test");
const results: Record<string, unknown> = {};
for (const precision of ["fp32", "bf16"]) {
  const config = loadConfig({
    set: [
      `data.limit=${values.limit}`,
      `train.epochs=${values.epochs}`,
      `train.batchSize=${values.batch}`,
      "train.warmupEpochs=0.1",
      `train.precision=${precision}`,
    ],
  });
  const out = mkdtempSync(join(tmpdir(), `simclr-precision-${precision}-`));
  const t0 = performance.now();
  const { model, globalStep } = await pretrain(out, config, { handleSignals: false, progress: new ProgressReporter(process.stderr, 10) });
  const seconds = (performance.now() - t0) / 1000;
  const { top1 } = knnClassify(extractFeatures(model.encoder, bank.images), bank.labels, extractFeatures(model.encoder, queries.images), queries.labels);
  results[precision] = {
    steps: globalStep,
    seconds: Number(seconds.toFixed(1)),
    views_per_s: Number(((2 * globalStep * config.train.batchSize) / seconds).toFixed(1)),
    knn_top1: Number(top1.toFixed(4)),
  };
}
console.log(
  JSON.stringify({
    bench: "precision-accuracy",
    data: "fashion-mnist",
    limit: Number(values.limit),
    epochs: Number(values.epochs),
    batch: Number(values.batch),
    knn: "bank 5000 train, 2000 test queries",
    ...results,
  }),
);
