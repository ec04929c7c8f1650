/**
 * The teacher of embedding distillation (distill.teacher): a run directory (its latest
 * checkpoint) or a checkpoint folder of one, loaded with the run's own config, frozen, BN in
 * inference mode, on the student's device. DIR/teacher.json records what was loaded.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { CheckpointError, ConfigError } from "../errors.js";
import { describeEncoder, type Encoder } from "../models/encoder.js";
import type { SimCLRModel } from "../models/simclr.js";
import { dataShape } from "../recipe/recipe.js";
import { loadEncoder } from "../run/encoder.js";
import { evaluationConfig } from "./evaluation-config.js";

export interface Teacher {
  encoder: Encoder;
  /** The teacher's whole model (its head unused); the caller disposes it. */
  model: SimCLRModel;
  provenance: { run: string; checkpoint: string; arch: string; featureDim: number; sha256: string };
}

/** Loads the teacher `config.distill.teacher` names, checked against the student's config and input channels. */
export function loadTeacher(config: Config, inChannels: number, device: string): Teacher {
  const path = config.distill.teacher;
  if (path === null) throw new ConfigError("distill.teacher is not set", "distill.teacher");
  const abs = resolve(path);
  if (!existsSync(abs)) throw new ConfigError(`distill.teacher: ${path} does not exist (a run directory, or a checkpoint folder of one)`, "distill.teacher");
  const isCheckpoint = existsSync(join(abs, "state.json"));
  const run = isCheckpoint ? dirname(dirname(abs)) : abs;
  if (!existsSync(join(run, "config.yaml"))) {
    throw new ConfigError(`distill.teacher: ${path} is not a run directory (no config.yaml) nor a checkpoint folder of one`, "distill.teacher");
  }
  const teacherConfig = evaluationConfig(run);
  const channels = dataShape(teacherConfig)[0];
  if (channels !== inChannels) {
    throw new ConfigError(`distill.teacher: ${run}'s encoder takes ${channels}-channel images, the student's data has ${inChannels}`, "distill.teacher");
  }
  const { model, encoder, origin } = loadEncoder({ config: teacherConfig, inChannels, ...(isCheckpoint ? { checkpoint: abs } : { runDir: run }) });
  if (config.head.outDim !== encoder.featureDim) {
    model.dispose();
    throw new ConfigError(
      `head.outDim is ${config.head.outDim}, but the teacher's h has ${encoder.featureDim} values: the student's projection must match it (set head.outDim=${encoder.featureDim}; simclr distill does)`,
      "head.outDim",
    );
  }
  model.to(device).eval();
  const weights = statSync(origin).isDirectory() ? join(origin, "model.safetensors") : origin;
  if (!existsSync(weights)) throw new CheckpointError(origin, `distill.teacher: ${origin} has no model.safetensors`);
  return {
    encoder,
    model,
    provenance: {
      run,
      checkpoint: basename(weights === origin ? dirname(origin) : origin),
      arch: describeEncoder(encoder),
      featureDim: encoder.featureDim,
      sha256: createHash("sha256").update(readFileSync(weights)).digest("hex"),
    },
  };
}

/** The size of the teacher's h, for `simclr distill` to set head.outDim before the config is resolved. */
export function teacherFeatureDim(path: string): number {
  const abs = resolve(path);
  const run = existsSync(join(abs, "state.json")) ? dirname(dirname(abs)) : abs;
  if (!existsSync(join(run, "config.yaml")))
    throw new ConfigError(`distill.teacher: ${path} is not a run directory nor a checkpoint folder of one`, "distill.teacher");
  const teacherConfig = evaluationConfig(run);
  const { model, encoder } = loadEncoder({ config: teacherConfig, inChannels: dataShape(teacherConfig)[0], randomInit: true });
  const dim = encoder.featureDim;
  model.dispose();
  return dim;
}
