/**
 * Semi-supervised fine-tuning of a run's encoder (SimCLR Appendix B.5): the pretrained
 * encoder and a new linear classifier trained on a class-balanced labelled subset
 * (finetune.labels), scored on the test split. The subset's indices are saved in
 * DIR/subsets/ so other runs can reuse exactly them, and the fine-tuned classifier in
 * DIR/finetuned/labels-<spec>-seed<N>/ (model.safetensors: encoder.*, head.*, fc.*; and
 * classifier.json), the teacher SimCLRv2's label distillation starts from (simclr distill).
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFilesAtomic } from "../io/atomic.js";
import { serializeSafetensors } from "../nn/safetensors.js";
import type { Config } from "../config/schema.js";
import { labelledSplits } from "./labelled-splits.js";
import { DataError } from "../errors.js";
import { evaluateClassifier } from "../eval/accuracy.js";
import { balancedSubset, readSubset, writeSubset } from "../eval/subset.js";
import { Classifier } from "../models/classifier.js";
import { cropFlipAugment, finetuneTraining } from "../recipe/recipe.js";
import { loadEncoder } from "../run/encoder.js";
import { tensor } from "../tensor/factory.js";
import { manualSeed } from "../tensor/runtime.js";
import { runFiles } from "../run/run-dir.js";
import { trainClassifier } from "../train/classifier.js";
import { TensorBoardLogger } from "../train/tensorboard.js";
import { recordResult, secondsSince } from "./results.js";
import { disposingAfter, type Owned } from "../tensor/scope.js";
import { ProgressReporter } from "../io/progress.js";
import type { EvaluationResult } from "./evaluate.js";
import { checkConfig } from "../config/load.js";

/** DIR/finetuned/<name>/classifier.json: what the saved classifier is. */
export interface FinetunedClassifier {
  /** The pretraining run it was fine-tuned from (its config builds the encoder). */
  run: string;
  labels: string;
  seed: number;
  fromHead: boolean;
  /** Class names, in label order (its fc's rows). */
  classes: string[];
  top1: number;
  top5: number;
}

export interface FinetuneOptions {
  /** Load weights that hold NaN or infinite values (refused by default: they give silently wrong results). */
  allowNonFinite?: boolean;
  /** A subset file written by an earlier fine-tuning (instead of drawing finetune.labels). */
  subsetFile?: string;
  /** Where progress and messages go (default: stderr). */
  progress?: ProgressReporter;
}

export async function finetune(runDir: string, config: Config, options: FinetuneOptions = {}): Promise<EvaluationResult> {
  checkConfig(config, "finetune(config)");
  return disposingAfter((owned) => finetuneIn(owned, runDir, config, options));
}

async function finetuneIn(owned: Owned[], runDir: string, config: Config, options: FinetuneOptions = {}): Promise<EvaluationResult> {
  const progress = options.progress ?? new ProgressReporter();
  const f = config.finetune;
  const { train, test, split } = await labelledSplits(config);
  owned.push(train.images, train.labels, test.images, test.labels);
  if (!train.labeled || !test.labeled)
    throw new DataError(config.data.path ?? config.data.name, `${config.data.name} has no labels: fine-tuning needs labelled train and test splits`);
  const classes = train.classes.length;
  const n = train.images.size(0);
  const subset = options.subsetFile !== undefined ? readSubset(options.subsetFile, n) : balancedSubset(train.labels, classes, f.labels, f.seed);
  let subsetFile = options.subsetFile;
  if (subsetFile === undefined) {
    mkdirSync(join(runDir, "subsets"), { recursive: true });
    const file = join(runDir, "subsets", `labels-${subset.spec.replace("%", "pct")}-seed${subset.seed}.json`);
    writeSubset(file, subset);
    subsetFile = file;
    progress.message(`subset: ${subset.indices.length} images (${subset.perClass} per class) -> ${file}`);
  }
  const idx = tensor(subset.indices, { dtype: "int64" });
  const images = train.images.indexSelect(0, idx); // (M, C, H, W)
  const labels = train.labels.indexSelect(0, idx); // (M)
  owned.push(idx, images, labels);

  const { model, origin } = loadEncoder({ runDir, config, inChannels: train.images.size(1), allowNonFinite: options.allowNonFinite ?? false });
  const device = config.train.device;
  // A job owns the process's RNG: the classifier's initialisation, the epochs' order and the
  // augmentation all come from the fine-tuning seed.
  manualSeed(f.seed);
  const classifier = new Classifier(model.encoder, classes, f.fromHead ? model.head : null).to(device);
  owned.push(model, classifier);
  const training = finetuneTraining(config, subset.indices.length, subset.indices.length / n);
  const tensorboard = new TensorBoardLogger(join(runFiles(runDir).tensorboard, `finetune-${subset.spec.replace("%", "pct")}-seed${subset.seed}`));
  const started = performance.now();
  await trainClassifier(
    classifier,
    { images, labels },
    {
      ...training,
      augment: cropFlipAugment(),
      device,
      onEpoch: (e, loss, stats) => {
        progress.message(`fine-tune epoch ${e + 1}/${training.epochs} loss ${loss.toFixed(4)}`);
        tensorboard.scalars(e + 1, { "finetune/loss": loss, "finetune/lr": stats.lr, "finetune/images_per_second": stats.imagesPerSecond });
      },
    },
  );
  const { top1, top5 } = evaluateClassifier(classifier, test, device);
  tensorboard.scalars(training.epochs, { "finetune/test_top1": top1, "finetune/test_top5": top5 });
  const saved = join(runDir, "finetuned", `labels-${subset.spec.replace("%", "pct")}-seed${subset.seed}`);
  mkdirSync(saved, { recursive: true });
  const description: FinetunedClassifier = {
    run: resolve(runDir),
    labels: subset.spec,
    seed: subset.seed,
    fromHead: f.fromHead,
    classes: [...train.classes],
    top1,
    top5,
  };
  writeFilesAtomic([
    { path: join(saved, "model.safetensors"), bytes: serializeSafetensors(classifier.stateDict(), { format: "simclr-classifier" }) },
    { path: join(saved, "classifier.json"), bytes: `${JSON.stringify(description, null, 1)}\n` },
  ]);
  progress.message(`fine-tuned classifier -> ${saved}`);
  return recordResult(runDir, {
    protocol: `finetune-${subset.spec}`,
    method: "finetune" as const,
    features: "h" as const,
    top1,
    top5,
    train_size: subset.indices.length,
    test_size: test.images.size(0),
    epochs: training.epochs,
    lr: training.lr,
    from_head: f.fromHead,
    subset: subsetFile,
    classifier: saved,
    split,
    encoder: origin,
    seconds: secondsSince(started),
  });
}
