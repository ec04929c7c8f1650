/**
 * Where an evaluation gets its encoder: a pretraining run's last checkpoint, a given
 * checkpoint (folder or model.safetensors), or the same architecture at random
 * initialisation with the run's seed (the baseline every result is read against).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { configFromYaml } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { ResNet } from "../models/resnet.js";
import type { SimCLRModel } from "../models/simclr.js";
import { readSafetensors } from "../nn/safetensors.js";
import { manualSeed } from "../tensor/runtime.js";
import { latestCheckpoint } from "../train/checkpoint.js";
import { buildModel } from "../train/pretrain.js";

export interface EncoderSource {
  /** The SimCLR model (encoder + head) the weights went into; its head is untrained for an encoder-only file or random init. */
  model: SimCLRModel;
  encoder: ResNet;
  config: Config;
  /** What was loaded, for the results line: a checkpoint path or "random-init". */
  origin: string;
}

/** The run's saved config (DIR/config.yaml). */
export function runConfig(runDir: string): Config {
  const path = join(runDir, "config.yaml");
  if (!existsSync(path)) throw new Error(`${runDir} is not a pretraining run: ${path} is missing`);
  return configFromYaml(readFileSync(path, "utf-8"), path);
}

function modelFile(checkpoint: string): string {
  return statSync(checkpoint).isDirectory() ? join(checkpoint, "model.safetensors") : checkpoint;
}

/**
 * Builds the run's encoder and loads weights into it. `inChannels` comes from the data the
 * evaluation uses. Errors name the run, the checkpoint and the mismatching keys.
 */
export function loadEncoder(options: { runDir?: string; checkpoint?: string; randomInit?: boolean; config?: Config; inChannels: number }): EncoderSource {
  const config = options.config ?? (options.runDir !== undefined ? runConfig(options.runDir) : undefined);
  if (config === undefined) throw new Error("evaluation needs --run DIR (or --checkpoint FILE with --config)");
  if (options.randomInit) {
    manualSeed(config.train.seed);
    const model = buildModel(config, options.inChannels);
    return { model, encoder: model.encoder, config, origin: "random-init" };
  }
  let checkpoint = options.checkpoint;
  if (checkpoint === undefined) {
    const latest = options.runDir === undefined ? null : latestCheckpoint(options.runDir);
    if (latest === null) throw new Error(`${options.runDir} has no checkpoint (checkpoints/latest is missing): pretrain it first`);
    checkpoint = latest;
  }
  if (!existsSync(checkpoint)) throw new Error(`checkpoint ${checkpoint} does not exist`);
  const file = modelFile(checkpoint);
  const state = readSafetensors(file).tensors;
  const model = buildModel(config, options.inChannels);
  // A SimCLR checkpoint holds encoder.* and head.*; an exported encoder holds the ResNet's keys.
  const isFullModel = [...state.keys()].some((k) => k.startsWith("encoder."));
  try {
    if (isFullModel) model.loadStateDict(state);
    else model.encoder.loadStateDict(state);
  } catch (e) {
    throw new Error(`${file} does not match the configured architecture (${config.model.arch}, width ${config.model.width}, ${options.inChannels} input channel(s)): ${(e as Error).message}`);
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return { model, encoder: model.encoder, config, origin: checkpoint };
}
