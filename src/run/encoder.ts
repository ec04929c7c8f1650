/**
 * Where an evaluation gets its encoder: a run's last checkpoint, a given checkpoint (folder
 * or model.safetensors), or the same architecture at random initialisation with the run's
 * seed (the baseline every result is read against).
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { ArgumentError, CheckpointError, NonFiniteFeaturesError } from "../errors.js";
import { classifierPrefix, describeEncoder, type Encoder } from "../models/encoder.js";
import type { SimCLRModel } from "../models/simclr.js";
import { readSafetensors } from "../nn/safetensors.js";
import { buildModel } from "../recipe/recipe.js";
import { nonFiniteRows } from "../tensor/finite.js";
import { withSeed } from "../tensor/rng.js";
import type { Tensor } from "../tensor/tensor.js";
import { latestCheckpoint } from "./checkpoint.js";

export interface EncoderSource {
  /** The SimCLR model (encoder + head) the weights went into; its head is untrained for an encoder-only file or random init. */
  model: SimCLRModel;
  encoder: Encoder;
  /** What was loaded, for the results line: a checkpoint path or "random-init". */
  origin: string;
}

export interface LoadEncoderOptions {
  /** The run's config: its model and head sections say what to build. */
  config: Config;
  /** Input channels of the data the encoder will see. */
  inChannels: number;
  /** The run directory whose latest checkpoint is loaded (unless `checkpoint` or `randomInit`). */
  runDir?: string;
  /** A checkpoint folder or a model.safetensors file. */
  checkpoint?: string;
  /** The same architecture untrained, initialised with train.seed (the global RNG is left as it was). */
  randomInit?: boolean;
  /** Load weights that hold NaN or infinite values (refused by default: they give silently wrong results). */
  allowNonFinite?: boolean;
}

function modelFile(checkpoint: string): string {
  return statSync(checkpoint).isDirectory() ? join(checkpoint, "model.safetensors") : checkpoint;
}

/** Builds the configured model and loads weights into it. Errors name the run, the file and the mismatching keys. */
export function loadEncoder(options: LoadEncoderOptions): EncoderSource {
  const { config, inChannels } = options;
  if (options.randomInit) {
    const model = withSeed(config.train.seed, () => buildModel(config, inChannels));
    return { model, encoder: model.encoder, origin: "random-init" };
  }
  let checkpoint = options.checkpoint;
  if (checkpoint === undefined) {
    if (options.runDir === undefined) throw new ArgumentError("loadEncoder needs a runDir, a checkpoint or randomInit");
    const latest = latestCheckpoint(options.runDir);
    if (latest === null) throw new CheckpointError(options.runDir, `${options.runDir} has no checkpoint (checkpoints/latest is missing): pretrain it first`);
    checkpoint = latest;
  }
  if (!existsSync(checkpoint)) throw new CheckpointError(checkpoint, `checkpoint ${checkpoint} does not exist`);
  const file = modelFile(checkpoint);
  if (!existsSync(file)) throw new CheckpointError(file, `${file} does not exist`);
  const state = readSafetensors(file).tensors;
  const model = buildModel(config, inChannels);
  // A SimCLR checkpoint holds encoder.* and head.*; an exported encoder holds the encoder's own keys.
  const isFullModel = [...state.keys()].some((k) => k.startsWith("encoder."));
  try {
    const loadOptions = { allowNonFinite: options.allowNonFinite ?? false };
    if (isFullModel) model.loadStateDict(state, loadOptions);
    else model.encoder.loadStateDict(state, loadOptions);
  } catch (e) {
    const message = (e as Error).message;
    const why = /NaN or infinite|in the state dict, the module holds|not a tensor/.test(message)
      ? "cannot be loaded"
      : `does not match the configured architecture (${config.model.arch}, width ${config.model.width}, ${inChannels} input channel(s))`;
    throw new CheckpointError(file, `${file} ${why}: ${message}`, { cause: e });
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return { model, encoder: model.encoder, origin: checkpoint };
}

/**
 * Refuses (N, D) features that hold NaN or infinite values unless `allowNonFinite`: finite
 * weights can still overflow in the forward pass (a run that diverged), and such features
 * would make every neighbour, accuracy and export silently wrong. Returns the bad rows (empty
 * when all are finite; only reached with allowNonFinite otherwise).
 */
export function checkFeaturesFinite(features: Tensor, where: string, origin: string, allowNonFinite: boolean): number[] {
  const bad = nonFiniteRows(features);
  if (bad.length > 0 && !allowNonFinite) {
    throw new NonFiniteFeaturesError(
      bad.length,
      `${where}: ${bad.length} of ${features.size(0)} inputs give NaN or infinite features with ${origin}: its weights diverged. ` +
        "Use an earlier checkpoint, or allowNonFinite to accept them.",
    );
  }
  return bad;
}

/** Where a run's initial encoder weights came from (DIR/init.json). */
export interface InitProvenance {
  file: string;
  /** sha256 of the file's bytes. */
  sha256: string;
  /** torchvision (or an exported encoder): the encoder's own keys; checkpoint: a SimCLR run's encoder.* keys. */
  format: "torchvision" | "checkpoint";
  /** Tensors loaded into the encoder, and keys left out (a classifier's fc.*, a run's head.*). */
  loaded: number;
  dropped: string[];
  /** The file's own metadata (an export's simclr.* keys say where it came from). */
  metadata: Record<string, string>;
}

/**
 * Loads the encoder weights in `file` into `encoder`, strictly (every key of the encoder, the
 * shapes of the configured architecture): a torchvision state dict or an exported encoder
 * (torchvision's classifier, fc.* or classifier.*, left out), or a SimCLR checkpoint's model.safetensors (encoder.* used, head.* left out).
 * Non-finite weights are refused. Errors are CheckpointErrors naming the file.
 */
export function loadInitWeights(encoder: Encoder, file: string, config: Config): InitProvenance {
  if (!existsSync(file)) throw new CheckpointError(file, `model.init: ${file} does not exist`);
  const path = statSync(file).isDirectory() ? join(file, "model.safetensors") : file;
  if (!existsSync(path)) throw new CheckpointError(path, `model.init: ${path} does not exist`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(path, `model.init: ${path} cannot be read: ${(e as Error).message}`, { cause: e });
  }
  const { tensors, metadata } = readSafetensors(path);
  try {
    const isCheckpoint = [...tensors.keys()].some((k) => k.startsWith("encoder."));
    const state = new Map<string, Tensor>();
    const dropped: string[] = [];
    for (const [k, t] of tensors) {
      if (isCheckpoint && k.startsWith("encoder.")) state.set(k.slice("encoder.".length), t);
      else if (!isCheckpoint && !k.startsWith(classifierPrefix(config.model.arch)) && !k.startsWith("head."))
        state.set(k, t); // not a classifier's fc / classifier, nor an export's head
      else dropped.push(k);
    }
    try {
      encoder.loadStateDict(state);
    } catch (e) {
      const message = (e as Error).message;
      if (/NaN or infinite/.test(message)) {
        throw new CheckpointError(
          path,
          `model.init: ${path} holds NaN or infinite weights (a run that diverged?): ${message.replace(/ \(loadStateDict.*\)$/, "")}`,
          { cause: e },
        );
      }
      const arch = `${describeEncoder(encoder)} (${encoder.inChannels} input channel(s))`;
      throw new CheckpointError(path, `model.init: ${path} does not fit ${arch}: ${message}`, { cause: e });
    }
    return {
      file: resolve(path),
      sha256: createHash("sha256").update(bytes).digest("hex"),
      format: isCheckpoint ? "checkpoint" : "torchvision",
      loaded: state.size,
      dropped,
      metadata,
    };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
