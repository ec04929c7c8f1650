/** `simclr supervised --out DIR [--config FILE] [--set key=value ...] [--epochs N] [--lr X]` */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { configToYaml } from "../config/load.js";
import { loadDataset } from "../data/datasets.js";
import { writeSafetensors } from "../nn/safetensors.js";
import { manualSeed } from "../tensor/runtime.js";
import { buildModel } from "../train/pretrain.js";
import { Classifier, evaluateClassifier, trainClassifier } from "../train/supervised.js";
import { CONFIG_OPTIONS, UsageError, printConfig, reportResult, resolveConfig } from "./common.js";

export const SUPERVISED_HELP = `simclr supervised --out DIR [--config FILE.yaml] [--set key=value ...] [--epochs N] [--lr X]

The supervised baseline: the configured encoder trained from scratch with labels and
cross-entropy on the train split (its first data.limit images when set), crop + flip augmentation,
Nesterov SGD (lr 0.1 x B/256, cosine decay, weight decay 5e-4), train.epochs epochs unless --epochs. Prints test top-1/top-5
and appends it to DIR/results.jsonl; the weights go to DIR/supervised.safetensors.`;

export async function supervisedCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...CONFIG_OPTIONS, out: { type: "string" }, epochs: { type: "string" }, lr: { type: "string" }, help: { type: "boolean" } } });
  if (values.help) {
    process.stdout.write(`${SUPERVISED_HELP}\n`);
    return 0;
  }
  if (!values.out) throw new UsageError("supervised needs --out DIR");
  const config = resolveConfig(values);
  printConfig(config);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, "config.yaml"), configToYaml(config));
  manualSeed(config.train.seed);
  const train = await loadDataset(config.data, "train");
  const test = await loadDataset({ ...config.data, limit: null }, "test");
  if (!train.labeled || !test.labeled) throw new Error(`${config.data.name} has no labels: the supervised baseline needs labelled train and test splits`);
  const model = new Classifier(buildModel(config, train.images.shape[1] as number).encoder, train.classes.length).to(config.train.device);
  const epochs = values.epochs !== undefined ? Number(values.epochs) : config.train.epochs;
  const batch = config.train.batchSize;
  const lr = values.lr !== undefined ? Number(values.lr) : (0.1 * batch) / 256;
  const started = performance.now();
  await trainClassifier(model, train.images, train.labels, {
    epochs,
    batchSize: batch,
    lr,
    weightDecay: 5e-4,
    device: config.train.device,
    onEpoch: (e, loss) => process.stderr.write(`supervised epoch ${e + 1}/${epochs} loss ${loss.toFixed(4)}\n`),
  });
  const { top1, top5 } = evaluateClassifier(model, test.images, test.labels, config.train.device);
  writeSafetensors(join(values.out, "supervised.safetensors"), model.stateDict());
  reportResult(values.out, { protocol: "supervised", top1, top5, train_size: train.images.shape[0], test_size: test.images.shape[0], epochs, lr, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) });
  return 0;
}
