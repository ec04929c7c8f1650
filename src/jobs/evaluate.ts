/**
 * Evaluating a run's representation h (frozen encoder, BN in inference mode), the paper's
 * way (section 4, Appendix B.6): a linear classifier on h, or weighted kNN, on the labelled
 * train split, scored on the test split; beside the same network at random initialisation
 * and the raw pixels. Each result is appended to the run's results.jsonl.
 */
import { existsSync, readFileSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { ArgumentError, ConfigError, DataError } from "../errors.js";
import { evaluateClassifier } from "../eval/accuracy.js";
import { extractFeatures, pixelFeatures, projectFeatures } from "../eval/features.js";
import { knnClassifyAt } from "../eval/knn.js";
import { balancedSubset } from "../eval/subset.js";
import { tensor } from "../tensor/factory.js";
import { logisticProbe, type ProbeFitEvent } from "../eval/logistic-probe.js";
import { Classifier } from "../models/classifier.js";
import { cropFlipAugment, linearEvalTraining } from "../recipe/recipe.js";
import { loadEncoder } from "../run/encoder.js";
import { manualSeed } from "../tensor/runtime.js";
import { withSeed } from "../tensor/rng.js";
import { trainClassifier } from "../train/classifier.js";
import { labelledSplits, type LabelledSplits } from "./labelled-splits.js";
import { recordResult, secondsSince } from "./results.js";
import { disposingAfter, type Owned } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { ProgressReporter } from "../io/progress.js";
import { checkConfig } from "../config/load.js";
import { runFiles } from "../run/run-dir.js";

export type Protocol = "linear" | "knn";

export interface EvaluateOptions {
  /** "linear": the logistic probe on h (or, with eval.protocol paper, the paper's linear evaluation); "knn": weighted kNN. */
  protocol: Protocol;
  /** Load weights that hold NaN or infinite values (refused by default: they give silently wrong results). */
  allowNonFinite?: boolean;
  /** A checkpoint folder or model.safetensors (default: the run's latest). */
  checkpoint?: string;
  /** The same architecture untrained (same seed): the baseline. */
  randomInit?: boolean;
  /** The flattened pixels in [0, 1] as the features (no encoder). */
  rawPixels?: boolean;
  /**
   * Which representation: h, the encoder's output (default, as the paper evaluates), or
   * z = g(h), the projection head's (section 4.2, Figure 8). The result's protocol gets "-z".
   */
  features?: "h" | "z";
  /** kNN at several k from one pass (default: [eval.k]); one result per k is recorded, the first returned with the rest in `byK`. */
  ks?: readonly number[];
  /** Where progress and messages go (default: stderr). */
  progress?: ProgressReporter;
}

export interface EvaluationResult extends Record<string, unknown> {
  /** The protocol as recorded: the method, "-z" for z, then the label subset ("knn-z-1pct"). */
  protocol: string;
  /** The method and the representation it read (a classifier on h for finetune and supervised), as typed fields: protocol spells both. */
  method: "linear" | "linear-paper" | "knn" | "finetune" | "supervised" | "head";
  features: "h" | "z";
  top1: number;
  top5: number;
  encoder: string;
  /** kNN with several k (options.ks): every k's result, the first being this one. */
  byK?: { k: number; top1: number; top5: number }[];
}

/** Evaluates the run in `runDir` with `config` (see evaluationConfig); appends the result to its results.jsonl. */
export async function evaluate(runDir: string, config: Config, options: EvaluateOptions): Promise<EvaluationResult> {
  checkConfig(config, "evaluate(config)");
  const { protocol, features = "h", ...rest } = options;
  if (features !== "h" && features !== "z") throw new ArgumentError(`evaluate(options.features) must be "h" or "z", got ${JSON.stringify(features)}`);
  const [result] = await evaluateMany(runDir, config, { ...rest, protocols: [protocol], features: [features] });
  return result!;
}

/** Options of evaluateMany: every protocol on every representation, from one feature extraction. */
export interface EvaluateManyOptions extends Omit<EvaluateOptions, "protocol" | "features"> {
  protocols: readonly Protocol[];
  features: readonly ("h" | "z")[];
  /** The labelled splits, already loaded (the caller keeps and frees them); default: loaded from config.data. */
  splits?: LabelledSplits;
}

/**
 * Every protocol of `protocols` on every representation of `features` (h, and z = g(h)), with
 * the encoder run once over each split: the ablation study's evaluation of a run. Each result
 * is appended to the run's results.jsonl; they are returned in the order protocol x feature.
 */
export async function evaluateMany(runDir: string, config: Config, options: EvaluateManyOptions): Promise<EvaluationResult[]> {
  checkConfig(config, "evaluateMany(config)");
  return disposingAfter((owned) => evaluateIn(owned, runDir, config, options));
}

async function evaluateIn(owned: Owned[], runDir: string, config: Config, options: EvaluateManyOptions): Promise<EvaluationResult[]> {
  const progress = options.progress ?? new ProgressReporter();
  const paper = options.protocols.includes("linear") && config.eval.protocol === "paper";
  if (paper && options.rawPixels)
    throw new ConfigError("eval.protocol paper trains a linear layer on the encoder's h; it does not apply to raw pixels", "eval.protocol");
  for (const f of options.features) if (f !== "h" && f !== "z") throw new ArgumentError(`evaluate: features must be "h" or "z", got ${JSON.stringify(f)}`);
  for (const p of options.protocols)
    if (p !== "linear" && p !== "knn") throw new ArgumentError(`evaluate: protocol must be "linear" or "knn", got ${JSON.stringify(p)}`);
  if (options.features.includes("z") && (paper || options.rawPixels))
    throw new ConfigError(
      `features z (the projection head's output) applies to the fast linear probe and kNN of an encoder, not to ${paper ? "eval.protocol paper" : "raw pixels"}`,
      "eval.protocol",
    );
  manualSeed(config.train.seed);
  const splits = options.splits ?? (await labelledSplits(config));
  const { train: full, test, split } = splits;
  if (options.splits === undefined) owned.push(full.images, full.labels, test.images, test.labels);
  if (!full.labeled || !test.labeled) {
    throw new DataError(
      config.data.path ?? config.data.name,
      `${config.data.name} has no labels: evaluation needs labelled train and test splits (one sub-folder per class)`,
    );
  }
  // The low-label view (the paper's Table 7 regime): a class-balanced, seeded subset of the labels.
  const spec = config.eval.labels;
  let train = full;
  if (spec !== null) {
    const subset = balancedSubset(full.labels, full.classes.length, spec, config.eval.seed, "eval.labels");
    const idx = tensor(subset.indices, { dtype: "int64" });
    train = { ...full, images: full.images.indexSelect(0, idx), labels: full.labels.indexSelect(0, idx) }; // (M, C, H, W), (M)
    owned.push(idx, train.images, train.labels);
    progress.message(`labels: ${subset.indices.length} of ${full.images.size(0)} train images (${subset.perClass} per class, seed ${subset.seed})`);
  }
  const labelSuffix = spec === null ? "" : `-${spec}`;
  const inChannels = train.images.size(1);
  const numClasses = train.classes.length;
  const device = config.train.device;
  const source = options.rawPixels
    ? null
    : loadEncoder({
        config,
        inChannels,
        runDir,
        ...(options.checkpoint !== undefined ? { checkpoint: options.checkpoint } : {}),
        randomInit: options.randomInit ?? false,
        allowNonFinite: options.allowNonFinite ?? false,
      });
  source?.encoder.to(device);
  if (source !== null) owned.push(source.model);
  const encoder = source?.origin ?? "raw-pixels";
  const sizes = { train_size: train.images.size(0), test_size: test.images.size(0), ...(spec === null ? {} : { labels: spec, label_seed: config.eval.seed }) };
  const results: EvaluationResult[] = [];
  /** Records a result; `seconds` is its own work plus `shared` (the features' extraction, which every protocol uses). */
  const record = (
    started: number,
    r: { protocol: string; method: EvaluationResult["method"]; features: "h" | "z"; top1: number; top5: number; [key: string]: unknown },
    shared = 0,
  ) => recordResult(runDir, { ...r, encoder, data: config.data.name, split, seconds: Number((secondsSince(started) + shared).toFixed(1)) }) as EvaluationResult;

  if (paper && source !== null) {
    const started = performance.now();
    const training = linearEvalTraining(config);
    const model = new Classifier(source.encoder, numClasses, null).to(device);
    owned.push(model);
    await trainClassifier(model, train, {
      ...training,
      augment: cropFlipAugment(),
      device,
      freezeEncoder: true,
      onEpoch: (e, loss) => progress.message(`linear (paper) epoch ${e + 1}/${training.epochs} loss ${loss.toFixed(4)}`),
    });
    const { top1, top5 } = evaluateClassifier(model, test, device);
    results.push(
      record(started, {
        protocol: `linear-paper${labelSuffix}`,
        method: "linear-paper",
        features: "h",
        top1,
        top5,
        ...sizes,
        epochs: training.epochs,
        lr: training.lr,
      }),
    );
    if (options.protocols.length === 1) return results;
  }
  // Features once per split: h of the frozen encoder (N, D), or the flattened pixels (N, C*H*W); z from h.
  const started = performance.now();
  const hOf = (images: typeof train.images) => (source === null ? pixelFeatures(images) : extractFeatures(source.encoder, images, { device }));
  const h = { train: hOf(train.images), test: hOf(test.images) };
  owned.push(h.train, h.test);
  let z: { train: Tensor; test: Tensor } | null = null;
  if (options.features.includes("z") && source !== null) {
    z = { train: projectFeatures(source.model.head, h.train, { device }), test: projectFeatures(source.model.head, h.test, { device }) };
    owned.push(z.train, z.test);
  }
  const extractSeconds = secondsSince(started);
  for (const protocol of options.protocols) {
    if (protocol === "linear" && paper) continue;
    for (const kind of options.features) {
      const f = kind === "z" ? z! : h;
      const suffix = (kind === "z" ? "-z" : "") + labelSuffix;
      const t0 = performance.now();
      if (protocol === "knn") {
        const { temperature } = config.eval;
        const asked = options.ks ?? [config.eval.k];
        const ks = asked.map((k) => Math.min(k, train.images.size(0)));
        ks.forEach((k, i) => {
          if (k < asked[i]!) progress.message(`kNN: k = ${asked[i]} is more than the ${k} train images; using k = ${k}`);
        });
        const found = knnClassifyAt(f.train, train.labels, f.test, test.labels, { ks, temperature, numClasses });
        for (const r of found) owned.push(r.scores);
        const byK = found.map((r) => ({ k: r.k, top1: r.top1, top5: r.top5 }));
        // one result per k; the first carries every k's (byK) when several were asked
        found.forEach((r, i) => {
          const line = record(
            t0,
            { protocol: `knn${suffix}`, method: "knn", features: kind, top1: r.top1, top5: r.top5, ...sizes, k: r.k, temperature },
            extractSeconds,
          );
          if (i === 0) results.push(found.length > 1 ? { ...line, byK } : line);
        });
      } else {
        const onFit = ({ l2, iterations, heldOutTop1, done, total }: ProbeFitEvent) =>
          progress.message(
            `linear probe${kind === "z" ? " on z" : ""} [${done}/${total}] L2 ${l2.toExponential(0)}: ` +
              (heldOutTop1 === undefined
                ? `refit on the whole train split, ${iterations} iterations`
                : `held-out top-1 ${(heldOutTop1 * 100).toFixed(1)}%, ${iterations} iterations`),
          );
        // the held-out split is drawn from eval.seed, so h and z (and every run of a study) choose L2 on the same images
        const r = withSeed(config.eval.seed, () =>
          logisticProbe(f.train, train.labels, f.test, test.labels, {
            numClasses,
            onFit,
            holdOut: config.eval.holdOut,
            maxIterations: config.eval.maxIterations,
          }),
        );
        owned.push(r.model.weight, r.model.bias, r.model.mean, r.model.std);
        results.push(
          record(t0, { protocol: `linear${suffix}`, method: "linear", features: kind, top1: r.top1, top5: r.top5, ...sizes, l2: r.l2 }, extractSeconds),
        );
      }
    }
  }
  return results;
}

/** Options of evaluateHead. */
export interface EvaluateHeadOptions {
  /** A checkpoint folder or model.safetensors (default: the run's latest). */
  checkpoint?: string;
  /** Load weights that hold NaN or infinite values (refused by default). */
  allowNonFinite?: boolean;
  /** Where progress and messages go (default: stderr). */
  progress?: ProgressReporter;
}

/**
 * A label-distilled student as the classifier it was trained to be (SimCLRv2, Chen et al.
 * 2020b, section 2: the student learns the teacher's soft labels, its head giving the logits):
 * top-1 and top-5 of the head's output on the test split, BN in inference mode, no probe
 * trained. The run must be a label distillation (distill.mode labels), whose teacher's classes
 * (DIR/teacher.json) are the data's, in the same order. Appended to the run's results.jsonl
 * as protocol "head".
 */
export async function evaluateHead(runDir: string, config: Config, options: EvaluateHeadOptions = {}): Promise<EvaluationResult> {
  checkConfig(config, "evaluateHead(config)");
  if (config.distill.teacher === null || config.distill.mode !== "labels") {
    throw new ConfigError(
      `${runDir} is not a label distillation (distill.mode labels): only then is its projection head a classifier; evaluate its h with linear or knn`,
      "distill.mode",
    );
  }
  const teacherFile = runFiles(runDir).teacher;
  if (!existsSync(teacherFile)) throw new ConfigError(`${runDir} has no teacher.json: it has not started distilling`, "distill.teacher");
  const teacher = JSON.parse(readFileSync(teacherFile, "utf-8")) as { classes?: string[] };
  return disposingAfter(async (owned) => {
    const progress = options.progress ?? new ProgressReporter();
    const { train, test, split } = await labelledSplits(config);
    owned.push(train.images, train.labels, test.images, test.labels);
    if (!test.labeled)
      throw new DataError(config.data.path ?? config.data.name, `${config.data.name} has no labels: the head's accuracy needs a labelled test split`);
    const classes = teacher.classes ?? [];
    if (classes.length !== test.classes.length || classes.some((c, i) => c !== test.classes[i])) {
      throw new DataError(
        config.data.path ?? config.data.name,
        `the teacher's classes (${classes.join(", ")}) are not the test split's (${test.classes.join(", ")}) in the same order: the head's outputs would be scored against the wrong labels`,
      );
    }
    const source = loadEncoder({
      config,
      inChannels: test.images.size(1),
      runDir,
      ...(options.checkpoint !== undefined ? { checkpoint: options.checkpoint } : {}),
      allowNonFinite: options.allowNonFinite ?? false,
    });
    owned.push(source.model);
    const device = config.train.device;
    source.model.to(device);
    const started = performance.now();
    progress.message(`the head as the classifier: ${test.images.size(0)} test images`);
    const { top1, top5 } = evaluateClassifier(source.model, test, device, 512, (x) => source.model.call(x).z);
    return recordResult(runDir, {
      protocol: "head",
      method: "head" as const,
      features: "z" as const,
      top1,
      top5,
      test_size: test.images.size(0),
      split,
      encoder: source.origin,
      seconds: secondsSince(started),
    });
  });
}
