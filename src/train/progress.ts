/** What a pretraining step reports: the snapshot and its one-line description. */
import { formatDuration, type ProgressReporter } from "../io/progress.js";

export interface ProgressSnapshot {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  accuracy: number;
  lr: number;
  viewsPerSecond: number;
  /** Seconds left for the whole run. */
  etaSeconds: number;
}

export function describe(p: ProgressSnapshot): string {
  return (
    `epoch ${p.epoch + 1}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} ` +
    `loss ${p.loss.toFixed(4)} acc ${p.accuracy.toFixed(3)} lr ${p.lr.toPrecision(3)} ` +
    `${p.viewsPerSecond.toFixed(0)} views/s ETA ${formatDuration(p.etaSeconds)}`
  );
}

/** Reports a step of pretraining on `progress`. */
export function reportStep(progress: ProgressReporter, p: ProgressSnapshot): void {
  progress.step(p.step, p.stepsPerEpoch, describe(p));
}
