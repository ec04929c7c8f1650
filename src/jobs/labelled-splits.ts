/**
 * The labelled train and test splits an evaluation, fine-tuning or supervised run scores on.
 * A data set without a test split of its own (an image folder) is never scored on the images
 * it trained on: a seeded, class-stratified fifth of it is held out as the test split, and the
 * result says so (`split`).
 */
import type { Config } from "../config/schema.js";
import { loadDataset, type LoadedDataset } from "../data/datasets.js";
import { randperm, tensor } from "../tensor/factory.js";
import { withSeed } from "../tensor/rng.js";
import { disposingAfter, type Owned } from "../tensor/scope.js";

export const HELD_OUT_FRACTION = 0.2;

export interface LabelledSplits {
  train: LoadedDataset;
  test: LoadedDataset;
  /** "test split", or how the held-out split was made. */
  split: string;
}

/** Loads both splits (the caller disposes their tensors: train and test images/labels). */
export async function labelledSplits(config: Config, options: { testLimit?: number | null } = {}): Promise<LabelledSplits> {
  const train = await loadDataset(config.data, "train");
  if (train.hasTestSplit) {
    const test = await loadDataset(options.testLimit === undefined ? config.data : { ...config.data, limit: options.testLimit }, "test");
    return { train, test, split: "test split" };
  }
  return disposingAfter((owned) => heldOutIn(owned, train, config));
}

/** The train and test splits held out of `train`, which is freed (with what is made on the way) once they are taken. */
async function heldOutIn(owned: Owned[], train: LoadedDataset, config: Config): Promise<LabelledSplits> {
  owned.push(train.images, train.labels);
  // Per class, a seeded shuffle; the last fifth (at least one image of a class with two or more) is held out.
  const labels = train.labels.dataAsNumbers();
  const seed = config.eval.seed;
  const order = withSeed(seed, () => {
    const p = randperm(labels.length);
    owned.push(p);
    return p.dataAsNumbers();
  });
  const byClass = new Map<number, number[]>();
  for (const i of order) {
    const c = labels[i] as number;
    if (!byClass.has(c)) byClass.set(c, []);
    byClass.get(c)!.push(i);
  }
  const trainIdx: number[] = [];
  const testIdx: number[] = [];
  for (const members of byClass.values()) {
    const held = members.length >= 2 ? Math.max(1, Math.round(members.length * HELD_OUT_FRACTION)) : 0;
    testIdx.push(...members.slice(members.length - held));
    trainIdx.push(...members.slice(0, members.length - held));
  }
  trainIdx.sort((a, b) => a - b);
  testIdx.sort((a, b) => a - b);
  const pick = (idx: number[]): LoadedDataset => {
    const t = tensor(idx, { dtype: "int64" });
    owned.push(t);
    return { ...train, images: train.images.indexSelect(0, t), labels: train.labels.indexSelect(0, t) };
  };
  return {
    train: pick(trainIdx),
    test: pick(testIdx),
    split: `held out: ${testIdx.length} of ${labels.length} images (${HELD_OUT_FRACTION * 100}% per class, seed ${seed}) of ${train.description}, which has no test split`,
  };
}
