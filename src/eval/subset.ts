/**
 * Class-balanced labelled subsets for semi-supervised fine-tuning (SimCLR Appendix B.5 uses
 * 1% and 10% of ImageNet's labels). The same seed gives the same subset; the indices are
 * written to a file so other runs can reuse exactly them.
 */
import { readFileSync } from "node:fs";
import { randperm } from "../tensor/factory.js";
import { withSeed } from "../tensor/rng.js";
import { ConfigError, DataError } from "../errors.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { writeFileAtomic } from "../io/atomic.js";

export interface LabelSubset {
  /** What was asked for: "1%", "10%" or "N-per-class". */
  spec: string;
  seed: number;
  perClass: number;
  /** Indices into the training split, sorted. */
  indices: number[];
}

/** Parses "1%", "10%", "25-per-class" into images per class for a data set of n images in c classes. */
export function perClassCount(spec: string, n: number, classes: number, key = "finetune.labels"): number {
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(spec);
  const each = /^(\d+)-per-class$/.exec(spec);
  let count: number;
  if (percent) count = Math.floor((n * Number(percent[1])) / 100 / classes);
  else if (each) count = Number(each[1]);
  else throw new ConfigError(`${key}: a label subset must be like 1%, 10% or 25-per-class, got '${spec}'`, key);
  if (count < 1) throw new ConfigError(`${key}: the label subset ${spec} leaves no image per class (${n} images, ${classes} classes)`, key);
  return count;
}

/** Picks `perClass` images of every class at random with its own seed (the global RNG is left as it was); throws if a class has fewer. */
export function balancedSubset(labels: Tensor, classes: number, spec: string, seed: number, key = "finetune.labels"): LabelSubset {
  const values = Array.from(labels.dataAsNumbers());
  const perClass = perClassCount(spec, values.length, classes, key);
  const indices: number[] = [];
  withSeed(seed, () => {
    for (let c = 0; c < classes; c++) {
      const members = values.flatMap((v, i) => (v === c ? [i] : []));
      if (members.length < perClass)
        throw new ConfigError(
          `${key}: class ${c} has ${members.length} images, fewer than the ${perClass} per class that the label subset ${spec} asks for`,
          key,
        );
      const order = tidy(() => Array.from(randperm(members.length).dataAsNumbers()));
      for (const k of order.slice(0, perClass)) {
        const index = members[k];
        if (index !== undefined) indices.push(index);
      }
    }
  });
  indices.sort((a, b) => a - b);
  return { spec, seed, perClass, indices };
}

export function writeSubset(path: string, subset: LabelSubset): void {
  writeFileAtomic(path, `${JSON.stringify(subset)}\n`);
}

export function readSubset(path: string, trainSize: number): LabelSubset {
  let subset: LabelSubset;
  try {
    subset = JSON.parse(readFileSync(path, "utf-8")) as LabelSubset;
  } catch (e) {
    throw new DataError(path, `cannot read the subset (${(e as Error).message})`);
  }
  if (subset === null || typeof subset !== "object") throw new DataError(path, "is not a subset: expected an object with spec, seed and indices");
  if (typeof subset.spec !== "string" || !Number.isInteger(subset.seed))
    throw new DataError(path, "is not a subset written by finetune: spec (a string) or seed (an integer) is missing");
  if (!Array.isArray(subset.indices) || !subset.indices.every((i) => Number.isInteger(i) && i >= 0 && i < trainSize)) {
    throw new DataError(path, `indices must be integers in [0, ${trainSize}) for this training split`);
  }
  return subset;
}
