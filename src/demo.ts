/**
 * `npm run demo`: SimCLR on Fashion-MNIST, CPU-sized (about 10 minutes on 2 cores).
 *   1. pretrain a ResNet-18 (width 16, CIFAR stem, 1 input channel) with the default config
 *      (the demo's settings: batch 256, temperature 0.5, LARS, grayscale augmentation)
 *   2. evaluate its representation h with kNN and a linear probe, beside the same network at
 *      random initialisation and raw pixels, and print the comparison table.
 * The run goes to runs/demo (or DEMO_OUT); a previous demo run there is replaced.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { configToYaml, loadConfig } from "./config/load.js";
import type { Config } from "./config/schema.js";
import { FASHION_MNIST_CLASSES } from "./data/fashion-mnist.js";
import { comparisonTable } from "./eval/compare.js";
import { evaluate } from "./jobs/evaluate.js";
import { evaluationConfig } from "./jobs/evaluation-config.js";
import { pretrain } from "./jobs/pretrain.js";

const outDir = process.env.DEMO_OUT ?? join(process.cwd(), "runs", "demo");
const BANK = 10_000; // labelled train images (and test images) used by the evaluations
const config: Config = loadConfig({ set: process.argv.slice(2), setSource: "demo argument" });

process.stderr.write(
  `SimCLR demo: pretraining on Fashion-MNIST (${FASHION_MNIST_CLASSES.length} classes of clothing, 28x28 grayscale), then kNN ` +
    `and linear probes against random initialisation and raw pixels.\nRun directory: ${outDir}\n\n${configToYaml(config)}\n`,
);
rmSync(outDir, { recursive: true, force: true });
const started = performance.now();
await pretrain(config, { outDir });
const pretrainSeconds = (performance.now() - started) / 1000;

process.stderr.write(
  `\nevaluating h (frozen encoder, BN in inference mode) on ${BANK.toLocaleString()} labelled train and ${BANK.toLocaleString()} test images: ` +
    `kNN (k = ${config.eval.k}, T = ${config.eval.temperature}) and a linear probe (logistic regression, L2 chosen on held-out data), ` +
    "for the SimCLR encoder, the same network at random initialisation, and raw pixels\n",
);
const evalConfig = evaluationConfig(outDir, { set: [`data.limit=${BANK}`] });
for (const protocol of ["knn", "linear"] as const) {
  for (const baseline of [{}, { randomInit: true }, { rawPixels: true }]) {
    const result = await evaluate(outDir, evalConfig, protocol, baseline);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}
process.stdout.write(`\nSimCLR, ${config.train.epochs} epochs of pretraining (${(pretrainSeconds / 60).toFixed(1)} min), Fashion-MNIST test top-1:\n\n${comparisonTable([outDir])}\n`);
