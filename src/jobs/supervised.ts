/**
 * The supervised baseline: the configured encoder trained from scratch with labels and
 * cross-entropy on the train split (its first data.limit images when set, or the label subset
 * of a fine-tuning: the same labels for a fair comparison), crop + flip augmentation, the
 * supervised section's schedule; scored on the whole test split. Writes
 * DIR/config.yaml, DIR/supervised.safetensors and a line of DIR/results.jsonl.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import { labelledSplits } from "./labelled-splits.js";
import { checkedThreads } from "./worker.js";
import { DataError } from "../errors.js";
import { evaluateClassifier } from "../eval/accuracy.js";
import { Classifier } from "../models/classifier.js";
import { writeSafetensors } from "../nn/safetensors.js";
import { buildModel, cropFlipAugment, supervisedTraining } from "../recipe/recipe.js";
import { runFiles, writeRunConfig } from "../run/run-dir.js";
import { manualSeed, setNumThreads } from "../tensor/runtime.js";
import { trainClassifier } from "../train/classifier.js";
import { TensorBoardLogger } from "../train/tensorboard.js";
import type { EvaluationResult } from "./evaluate.js";
import { recordResult, secondsSince } from "./results.js";
import { disposingAfter, type Owned } from "../tensor/scope.js";
import { ProgressReporter } from "../io/progress.js";
import { checkConfig } from "../config/load.js";
import { readSubset } from "../eval/subset.js";
import { tensor } from "../tensor/factory.js";

export interface SupervisedOptions {
  /** Where progress and messages go (default: stderr). */
  progress?: ProgressReporter;
  /** Train on this label subset only (a file that `simclr finetune` wrote in its run's subsets/). */
  subsetFile?: string;
}

export async function trainSupervised(outDir: string, config: Config, options: SupervisedOptions = {}): Promise<EvaluationResult> {
  checkConfig(config, "trainSupervised(config)");
  return disposingAfter((owned) => trainSupervisedIn(owned, outDir, config, options));
}

async function trainSupervisedIn(owned: Owned[], outDir: string, config: Config, options: SupervisedOptions): Promise<EvaluationResult> {
  const progress = options.progress ?? new ProgressReporter();
  mkdirSync(outDir, { recursive: true });
  writeRunConfig(outDir, config);
  const threads = checkedThreads(config);
  if (threads !== null) setNumThreads(threads);
  manualSeed(config.train.seed);
  const { train: full, test, split } = await labelledSplits(config, { testLimit: null });
  owned.push(full.images, full.labels, test.images, test.labels);
  if (!full.labeled || !test.labeled)
    throw new DataError(
      config.data.path ?? config.data.name,
      `${config.data.name} has no labels: the supervised baseline needs labelled train and test splits`,
    );
  let train = full;
  let labels: string | null = null;
  if (options.subsetFile !== undefined) {
    const subset = readSubset(options.subsetFile, full.images.size(0));
    const idx = tensor(subset.indices, { dtype: "int64" });
    train = { ...full, images: full.images.indexSelect(0, idx), labels: full.labels.indexSelect(0, idx) }; // (M, C, H, W), (M)
    owned.push(idx, train.images, train.labels);
    labels = subset.spec;
    progress.message(`supervised on the label subset ${options.subsetFile}: ${subset.indices.length} images (${subset.spec})`);
  }
  const device = config.train.device;
  const built = buildModel(config, train.images.size(1)); // its head is not used
  const model = new Classifier(built.encoder, train.classes.length).to(device);
  owned.push(built, model);
  const training = supervisedTraining(config, train.images.size(0));
  const tensorboard = new TensorBoardLogger(runFiles(outDir).tensorboard);
  const started = performance.now();
  await trainClassifier(model, train, {
    ...training,
    augment: cropFlipAugment(),
    device,
    onEpoch: (e, loss, stats) => {
      progress.message(`supervised epoch ${e + 1}/${training.epochs} loss ${loss.toFixed(4)}`);
      tensorboard.scalars(e + 1, { "supervised/loss": loss, "supervised/lr": stats.lr, "supervised/images_per_second": stats.imagesPerSecond });
    },
  });
  const { top1, top5 } = evaluateClassifier(model, test, device);
  tensorboard.scalars(training.epochs, { "supervised/test_top1": top1, "supervised/test_top5": top5 });
  writeSafetensors(join(outDir, "supervised.safetensors"), model.stateDict());
  return recordResult(outDir, {
    protocol: labels === null ? "supervised" : `supervised-${labels}`,
    method: "supervised" as const,
    features: "h" as const,
    top1,
    top5,
    train_size: train.images.size(0),
    test_size: test.images.size(0),
    epochs: training.epochs,
    lr: training.lr,
    encoder: "supervised",
    split,
    seconds: secondsSince(started),
  });
}
