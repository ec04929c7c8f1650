/**
 * Evaluating a run's representation h (frozen encoder, BN in inference mode), the paper's
 * way (section 4, Appendix B.6): a linear classifier on h, or weighted kNN, on the labelled
 * train split, scored on the test split; beside the same network at random initialisation
 * and the raw pixels. Each result is appended to the run's results.jsonl.
 */
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
import { trainClassifier } from "../train/classifier.js";
import { labelledSplits } from "./labelled-splits.js";
import { recordResult, secondsSince } from "./results.js";
import { disposingAfter, type Owned } from "../tensor/scope.js";
import { ProgressReporter } from "../io/progress.js";
import { checkConfig } from "../config/load.js";

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
  protocol: string;
  top1: number;
  top5: number;
  encoder: string;
  /** kNN with several k (options.ks): every k's result, the first being this one. */
  byK?: { k: number; top1: number; top5: number }[];
}

/** Evaluates the run in `runDir` with `config` (see evaluationConfig); appends the result to its results.jsonl. */
export async function evaluate(runDir: string, config: Config, options: EvaluateOptions): Promise<EvaluationResult> {
  checkConfig(config, "evaluate(config)");
  return disposingAfter((owned) => evaluateIn(owned, runDir, config, options.protocol, options));
}

async function evaluateIn(owned: Owned[], runDir: string, config: Config, protocol: Protocol, options: EvaluateOptions): Promise<EvaluationResult> {
  const progress = options.progress ?? new ProgressReporter();
  const paper = protocol === "linear" && config.eval.protocol === "paper";
  if (paper && options.rawPixels)
    throw new ConfigError("eval.protocol paper trains a linear layer on the encoder's h; it does not apply to raw pixels", "eval.protocol");
  const onZ = options.features === "z";
  if (options.features !== undefined && options.features !== "h" && !onZ)
    throw new ArgumentError(`evaluate(options.features) must be "h" or "z", got ${JSON.stringify(options.features)}`);
  if (onZ && (paper || options.rawPixels))
    throw new ConfigError(`features z (the projection head's output) applies to the fast linear probe and kNN of an encoder, not to ${paper ? "eval.protocol paper" : "raw pixels"}`, "eval.protocol");
  manualSeed(config.train.seed);
  const { train: full, test, split } = await labelledSplits(config);
  owned.push(full.images, full.labels, test.images, test.labels);
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
  const suffix = (onZ ? "-z" : "") + (spec === null ? "" : `-${spec}`);
  const inChannels = train.images.size(1);
  const numClasses = train.classes.length;
  const device = config.train.device;
  const started = performance.now();
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
  const sizes = { train_size: train.images.size(0), test_size: test.images.size(0), ...(spec === null ? {} : { labels: spec, label_seed: config.eval.seed }) };
  let record: { protocol: string; top1: number; top5: number; [key: string]: unknown };
  if (paper && source !== null) {
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
    record = { protocol: `linear-paper${suffix}`, top1, top5, ...sizes, epochs: training.epochs, lr: training.lr };
  } else {
    // Features once: h of the frozen encoder (N, D), or the flattened pixels (N, C*H*W).
    const features = (images: typeof train.images) => {
      if (source === null) return pixelFeatures(images);
      const h = extractFeatures(source.encoder, images, { device }); // (N, featureDim)
      if (!onZ) return h;
      const z = projectFeatures(source.model.head, h, { device }); // (N, outDim)
      h.dispose();
      return z;
    };
    const trainFeatures = features(train.images);
    const testFeatures = features(test.images);
    owned.push(trainFeatures, testFeatures);
    if (protocol === "knn") {
      const { temperature } = config.eval;
      const asked = options.ks ?? [config.eval.k];
      const ks = asked.map((k) => Math.min(k, train.images.size(0)));
      ks.forEach((k, i) => {
        if (k < asked[i]!) progress.message(`kNN: k = ${asked[i]} is more than the ${k} train images; using k = ${k}`);
      });
      const results = knnClassifyAt(trainFeatures, train.labels, testFeatures, test.labels, { ks, temperature, numClasses });
      for (const r of results) owned.push(r.scores);
      const encoder = source?.origin ?? "raw-pixels";
      const seconds = secondsSince(started);
      const records = results.map((r) => ({ protocol: `knn${suffix}`, top1: r.top1, top5: r.top5, ...sizes, k: r.k, temperature }));
      // every k but the first is recorded here; the first below, as any other result
      for (const r of records.slice(1)) recordResult(runDir, { ...r, encoder, data: config.data.name, split, seconds });
      const first = records[0]!;
      record = results.length > 1 ? { ...first, byK: results.map((r) => ({ k: r.k, top1: r.top1, top5: r.top5 })) } : first;
    } else {
      const onFit = ({ l2, iterations, heldOutTop1, done, total }: ProbeFitEvent) =>
        progress.message(
          `linear probe [${done}/${total}] L2 ${l2.toExponential(0)}: ` +
            (heldOutTop1 === undefined
              ? `refit on the whole train split, ${iterations} iterations`
              : `held-out top-1 ${(heldOutTop1 * 100).toFixed(1)}%, ${iterations} iterations`),
        );
      const r = logisticProbe(trainFeatures, train.labels, testFeatures, test.labels, {
        numClasses,
        onFit,
        holdOut: config.eval.holdOut,
        maxIterations: config.eval.maxIterations,
      });
      owned.push(r.model.weight, r.model.bias, r.model.mean, r.model.std);
      record = { protocol: `linear${suffix}`, top1: r.top1, top5: r.top5, ...sizes, l2: r.l2 };
    }
  }
  return recordResult(runDir, { ...record, encoder: source?.origin ?? "raw-pixels", data: config.data.name, split, seconds: secondsSince(started) });
}
