/**
 * `npm run demo`: SimCLR on Fashion-MNIST, CPU-sized (about 10 minutes on 2 cores).
 *   1. pretrain a ResNet-18 (width 16, CIFAR stem, 1 input channel) with the default config
 *      (the demo's settings: batch 256, temperature 0.5, LARS, grayscale augmentation)
 *   2. compare its representation h with the same network at random initialisation, by a
 *      weighted kNN classifier (k = 200, T = 0.1) on labelled images the encoder never used.
 * The run goes to runs/demo (or DEMO_OUT); a previous demo run there is replaced.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { extractFeatures } from "./eval/features.js";
import { knnClassify } from "./eval/knn.js";
import { FASHION_MNIST_CLASSES, loadConfig, loadDataset, manualSeed, pretrain, buildModel, type Config } from "./index.js";
import { configToYaml } from "./config/load.js";

const outDir = process.env.DEMO_OUT ?? join(process.cwd(), "runs", "demo");
const BANK = 10_000; // labelled training images whose features vote in kNN
const config: Config = loadConfig({ set: process.argv.slice(2) });

process.stderr.write(
  `SimCLR demo: pretraining on Fashion-MNIST (${FASHION_MNIST_CLASSES.length} classes of clothing, 28x28 grayscale), then a kNN ` +
    `comparison against the same encoder at random initialisation.\nRun directory: ${outDir}\n\n${configToYaml(config)}\n`,
);
rmSync(outDir, { recursive: true, force: true });
const started = performance.now();
const { model } = await pretrain(config, { outDir });
const pretrainSeconds = (performance.now() - started) / 1000;

process.stderr.write(`\nevaluating: kNN on h, ${BANK} train images as the memory bank, the 10,000 test images as queries\n`);
const data = { ...config.data, limit: BANK };
const train = await loadDataset(data, "train");
const test = await loadDataset({ ...config.data, limit: null }, "test");

function knnTop1(encoder: ReturnType<typeof buildModel>["encoder"]): { top1: number; top5: number } {
  const bank = extractFeatures(encoder, train.images);
  const queries = extractFeatures(encoder, test.images);
  const { top1, top5 } = knnClassify(bank, train.labels, queries, test.labels, { numClasses: train.classes.length });
  return { top1, top5 };
}

const trained = knnTop1(model.encoder);
manualSeed(config.train.seed); // the random-init baseline: same architecture, same seed
const random = knnTop1(buildModel(config, train.images.shape[1] as number).encoder);

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const rows = [
  ["encoder", "kNN top-1", "kNN top-5"],
  ["---", "---:", "---:"],
  [`SimCLR, ${config.train.epochs} epochs (${(pretrainSeconds / 60).toFixed(1)} min)`, pct(trained.top1), pct(trained.top5)],
  ["random initialisation (same seed)", pct(random.top1), pct(random.top5)],
];
process.stdout.write(`\n${rows.map((r) => `| ${r.join(" | ")} |`).join("\n")}\n`);
process.stdout.write(
  `\nSimCLR ${trained.top1 > random.top1 ? "beats" : "does not beat"} random initialisation by ${((trained.top1 - random.top1) * 100).toFixed(1)} points of kNN top-1.\n`,
);
