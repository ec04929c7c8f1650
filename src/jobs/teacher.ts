/**
 * The teacher of distillation (distill.teacher), frozen, BN in inference mode, on the
 * student's device:
 *   embedding mode  a run directory (its latest checkpoint) or a checkpoint folder of one,
 *                   loaded with the run's own config; it gives h
 *   labels mode     a fine-tuned classifier's folder (RUN/finetuned/NAME: model.safetensors
 *                   and classifier.json, written by simclr finetune); it gives logits
 * DIR/teacher.json records what was loaded.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { CheckpointError, ConfigError } from "../errors.js";
import { Classifier } from "../models/classifier.js";
import { describeEncoder } from "../models/encoder.js";
import type { Module } from "../nn/module.js";
import { readSafetensors } from "../nn/safetensors.js";
import { dataShape } from "../recipe/recipe.js";
import { loadEncoder } from "../run/encoder.js";
import type { Tensor } from "../tensor/tensor.js";
import { evaluationConfig } from "./evaluation-config.js";
import type { FinetunedClassifier } from "./finetune.js";

export interface Teacher {
  /** Views (N, C, S, S) -> h (embedding mode) or logits (labels mode), (N, outDim). */
  forward(x: Tensor): Tensor;
  /** What the student's head must output: the teacher's h size, or its classes. */
  outDim: number;
  /** Frees the teacher's weights. */
  dispose(): void;
  provenance: { mode: "embedding" | "labels"; run: string; checkpoint: string; arch: string; outDim: number; sha256: string; classes?: string[] };
}

interface Located {
  /** The run whose config builds the teacher's encoder. */
  run: string;
  /** A checkpoint folder (embedding mode) or the classifier's folder (labels mode); null: the run's latest. */
  at: string | null;
  classifier: FinetunedClassifier | null;
}

function locate(path: string, mode: Config["distill"]["mode"]): Located {
  const abs = resolve(path);
  if (!existsSync(abs)) {
    throw new ConfigError(
      `distill.teacher: ${path} does not exist (${mode === "labels" ? "a fine-tuned classifier's folder, RUN/finetuned/NAME" : "a run directory, or a checkpoint folder of one"})`,
      "distill.teacher",
    );
  }
  if (mode === "labels") {
    const file = join(abs, "classifier.json");
    if (!existsSync(file)) {
      throw new ConfigError(
        `distill.teacher: ${path} has no classifier.json: label distillation needs a fine-tuned classifier (simclr finetune writes RUN/finetuned/NAME)`,
        "distill.teacher",
      );
    }
    const classifier = JSON.parse(readFileSync(file, "utf-8")) as FinetunedClassifier;
    return { run: classifier.run, at: abs, classifier };
  }
  const isCheckpoint = existsSync(join(abs, "state.json"));
  const run = isCheckpoint ? dirname(dirname(abs)) : abs;
  if (!existsSync(join(run, "config.yaml"))) {
    throw new ConfigError(`distill.teacher: ${path} is not a run directory (no config.yaml) nor a checkpoint folder of one`, "distill.teacher");
  }
  return { run, at: isCheckpoint ? abs : null, classifier: null };
}

/** Loads the teacher `config.distill.teacher` names, checked against the student's config and input channels. */
export function loadTeacher(config: Config, inChannels: number, device: string): Teacher {
  const { teacher: path, mode } = config.distill;
  if (path === null) throw new ConfigError("distill.teacher is not set", "distill.teacher");
  const where = locate(path, mode);
  const teacherConfig = evaluationConfig(where.run);
  const channels = dataShape(teacherConfig)[0];
  if (channels !== inChannels) {
    throw new ConfigError(`distill.teacher: ${where.run}'s encoder takes ${channels}-channel images, the student's data has ${inChannels}`, "distill.teacher");
  }
  let module: Module;
  let forward: (x: Tensor) => Tensor;
  let owned: Module[];
  let weights: string;
  let outDim: number;
  let arch: string;
  if (where.classifier !== null) {
    // the run's architecture at random init, then the classifier's weights over it
    const { model, encoder } = loadEncoder({ config: teacherConfig, inChannels, randomInit: true });
    const classes = where.classifier.classes.length;
    const classifier = new Classifier(encoder, classes, where.classifier.fromHead ? model.head : null);
    weights = join(where.at as string, "model.safetensors");
    const { tensors } = readSafetensors(weights);
    try {
      classifier.loadStateDict(tensors);
    } catch (e) {
      model.dispose();
      classifier.fc.dispose();
      throw new CheckpointError(
        weights,
        `distill.teacher: ${weights} does not fit ${where.run}'s ${describeEncoder(encoder)} classifier: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
    module = classifier;
    forward = (x) => classifier.call(x);
    owned = [model, classifier.fc]; // the classifier shares the model's encoder (and head)
    outDim = classes;
    arch = `${describeEncoder(encoder)} + ${classes}-way classifier (${where.classifier.labels} labels, top-1 ${where.classifier.top1})`;
  } else {
    const { model, encoder, origin } = loadEncoder({
      config: teacherConfig,
      inChannels,
      ...(where.at !== null ? { checkpoint: where.at } : { runDir: where.run }),
    });
    module = encoder;
    forward = (x) => encoder.call(x);
    owned = [model];
    outDim = encoder.featureDim;
    arch = describeEncoder(encoder);
    weights = statSync(origin).isDirectory() ? join(origin, "model.safetensors") : origin;
  }
  const dispose = () => {
    for (const m of owned) m.dispose();
  };
  if (config.head.outDim !== outDim) {
    dispose();
    const what = mode === "labels" ? `the teacher classifies into ${outDim} classes` : `the teacher's h has ${outDim} values`;
    throw new ConfigError(
      `head.outDim is ${config.head.outDim}, but ${what}: the student's head must match it (set head.outDim=${outDim}; simclr distill does)`,
      "head.outDim",
    );
  }
  for (const m of owned) m.to(device);
  module.eval();
  return {
    forward,
    outDim,
    dispose,
    provenance: {
      mode,
      run: where.run,
      checkpoint: basename(mode === "labels" ? (where.at as string) : dirname(weights)),
      arch,
      outDim,
      sha256: createHash("sha256").update(readFileSync(weights)).digest("hex"),
      ...(where.classifier !== null ? { classes: where.classifier.classes } : {}),
    },
  };
}

/** What the student's head must output for the teacher at `path`, for `simclr distill` to set head.outDim before the config is resolved. */
export function teacherOutDim(path: string, mode: Config["distill"]["mode"]): number {
  const where = locate(path, mode);
  if (where.classifier !== null) return where.classifier.classes.length;
  const teacherConfig = evaluationConfig(where.run);
  const { model, encoder } = loadEncoder({ config: teacherConfig, inChannels: dataShape(teacherConfig)[0], randomInit: true });
  const dim = encoder.featureDim;
  model.dispose();
  return dim;
}
