/**
 * Weights trained elsewhere as a run: a ResNet state dict in safetensors with torchvision's
 * names (as torchvision's `state_dict()` or `simclr export` write it) becomes a run directory
 * (config.yaml and a checkpoint), so eval, finetune, embed and export work on it. A torchvision
 * classifier's `fc.*` is left out (SimCLR's encoder ends at h); every other key must match the
 * configured architecture exactly, else the error lists what is missing and unexpected.
 */
import { existsSync, mkdirSync } from "node:fs";
import type { Config } from "../config/schema.js";
import { CheckpointError, StateDictError } from "../errors.js";
import { readSafetensors } from "../nn/safetensors.js";
import { buildModel } from "../recipe/recipe.js";
import { classifierPrefix, describeEncoder, stemWeightKey } from "../models/encoder.js";
import { latestCheckpoint, saveCheckpoint } from "../run/checkpoint.js";
import { writeRunConfig } from "../run/run-dir.js";
import { checkConfig, flattenConfig } from "../config/load.js";
import { rngStateToBase64, withSeed } from "../tensor/rng.js";
import { disposingAfter } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";

export interface ImportResult {
  runDir: string;
  checkpoint: string;
  /** Keys of the file left out (a classifier's fc.* or classifier.*). */
  dropped: string[];
}

/** Makes `outDir` a run of `config` whose encoder holds the weights in `options.file`; the head is initialised from train.seed. */
export function importWeights(outDir: string, config: Config, options: { file: string }): ImportResult {
  const weightsFile = options.file;
  checkConfig(config, "importWeights(config)");
  if (latestCheckpoint(outDir) !== null) throw new CheckpointError(outDir, `${outDir} already holds a run with checkpoints: choose another directory`);
  if (!existsSync(weightsFile)) throw new CheckpointError(weightsFile, `${weightsFile} does not exist`);
  return disposingAfter((owned) => {
    const { tensors } = readSafetensors(weightsFile);
    owned.push(...tensors.values());
    const arch = config.model.arch;
    const stem = tensors.get(stemWeightKey(arch));
    if (stem === undefined) {
      throw new CheckpointError(weightsFile, `${weightsFile} has no ${stemWeightKey(arch)}: not a ${arch} state dict with torchvision's names (model.arch)`);
    }
    const inChannels = stem.size(1);
    const model = withSeed(config.train.seed, () => buildModel(config, inChannels));
    owned.push(model);
    const classifier = classifierPrefix(arch);
    const dropped = [...tensors.keys()].filter((k) => k.startsWith(classifier));
    const encoderState = new Map([...tensors].filter(([k]) => !k.startsWith(classifier)));
    try {
      model.encoder.loadStateDict(encoderState);
    } catch (e) {
      if (e instanceof StateDictError) {
        throw new CheckpointError(weightsFile, `${weightsFile} does not fit ${describeEncoder(model.encoder)} (${inChannels} input channel(s)): ${e.message}`, {
          cause: e,
        });
      }
      throw e;
    }
    mkdirSync(outDir, { recursive: true });
    writeRunConfig(outDir, config);
    const groups = new Map<string, Map<string, Tensor>>([["model", model.stateDict()]]);
    const checkpoint = saveCheckpoint(
      outDir,
      {
        epoch: config.train.epochs,
        stepInEpoch: 0,
        globalStep: 0,
        rngState: rngStateToBase64(),
        optimizer: { name: config.optim.name, steps: 0 },
        config: Object.fromEntries(flattenConfig(config)),
        createdAt: new Date().toISOString(),
      },
      groups,
    );
    return { runDir: outDir, checkpoint, dropped };
  });
}
