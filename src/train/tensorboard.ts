/**
 * TensorBoard logging as a training callback: every metrics.jsonl record becomes scalars in
 * DIR/tensorboard/ (step lines under train/, epoch lines, with the monitors' kNN and probe
 * accuracy, under epoch/), at the record's step; `image` adds a PNG (the augmented views at
 * the start). `tensorboard --logdir DIR/tensorboard`. Fine-tuning and supervised training
 * log per-epoch loss through `scalars` under their own folders.
 */
import { TfEventsWriter } from "../run/tfevents.js";
import type { TrainCallback } from "../run/callbacks.js";

const STEP_KEYS: Record<string, string> = {
  loss: "train/loss",
  contrastive_acc: "train/contrastive_accuracy",
  distill_cos: "train/distill_cosine",
  lr: "train/lr",
  views_per_s: "train/views_per_second",
};
const EPOCH_KEYS: Record<string, string> = {
  epoch_loss: "epoch/loss",
  probe_acc: "epoch/online_probe_accuracy",
  knn_top1: "epoch/knn_top1",
  knn_top5: "epoch/knn_top5",
};

export class TensorBoardLogger implements TrainCallback {
  readonly writer: TfEventsWriter;

  constructor(dir: string) {
    this.writer = new TfEventsWriter(dir);
  }

  onMetrics(record: Record<string, unknown>): void {
    const step = typeof record.step === "number" ? record.step : 0;
    const keys = "epoch_loss" in record ? EPOCH_KEYS : STEP_KEYS;
    const values: Record<string, number> = {};
    for (const [key, tag] of Object.entries(keys)) {
      const v = record[key];
      if (typeof v === "number" && Number.isFinite(v)) values[tag] = v;
    }
    this.writer.scalars(step, values);
  }

  /** Scalars under the given tags at `step` (the classifier trainings' epochs). */
  scalars(step: number, values: Record<string, number>): void {
    this.writer.scalars(step, values);
  }

  /** A PNG image (RGB) under `tag` at `step`. */
  image(step: number, tag: string, png: Uint8Array, height: number, width: number): void {
    this.writer.image(step, tag, png, height, width, 3);
  }
}
