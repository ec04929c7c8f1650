/**
 * What a training loop tells the code watching it. Monitors (the online probe, kNN) and
 * anything else that needs to see training without changing it are callbacks: the loop
 * calls them at fixed points and knows nothing of what they do, so a new monitor changes no
 * loop. A callback with a `name` and a state dict is saved in checkpoints as the group of
 * that name.
 */
import type { SimCLRModel } from "../models/simclr.js";
import type { Tensor } from "../tensor/tensor.js";

/** One augmented batch's representations, inside the step's tidy() scope. */
export interface BatchEvent {
  /** h of both views, (2B, featureDim), still attached to the graph: detach before training on it. */
  h: Tensor;
  /** The batch's labels (B) on the device, or null for unlabelled data. */
  labels: Tensor | null;
}

/** After an optimizer step. */
export interface StepEvent {
  /** Steps done in the run, counting this one. */
  globalStep: number;
  /** 0-based epoch of this step and steps of it done. */
  epoch: number;
  stepInEpoch: number;
  loss: number;
  accuracy: number;
  lr: number;
  model: SimCLRModel;
}

/** After the last step of an epoch. */
export interface EpochEvent {
  /** The epoch just finished (0-based). */
  epoch: number;
  model: SimCLRModel;
}

export interface TrainCallback {
  /** The checkpoint group its state goes to (lower-case, e.g. "probe"); needed with stateDict. */
  readonly name?: string;
  onBatch?(event: BatchEvent): void;
  onStepEnd?(event: StepEvent): void;
  /** Every record the loop writes to metrics.jsonl (step lines and epoch lines, with all metrics). */
  onMetrics?(record: Record<string, unknown>): void;
  /** Metrics to add to the epoch's line of metrics.jsonl (e.g. { knn_top1: 0.8 }), or null. */
  onEpochEnd?(event: EpochEvent): Record<string, number> | null;
  /** Its tensors, by reference, for checkpoints. */
  stateDict?(): Map<string, Tensor>;
  /** Restores from a checkpoint's group (copies; the caller still owns `state`). */
  loadStateDict?(state: Map<string, Tensor>): void;
  /** Frees what the callback holds; the job that made it calls this at the end. */
  dispose?(): void;
}
