/**
 * Learning-rate scaling and schedule (SimCLR section 2.2 and Appendix B.1):
 * LR = base x B / 256 (linear) or base x sqrt(B) (sqrt, better for small batches), linear
 * warm-up for the first epochs, then cosine decay without restarts, updated every step
 * (as the official code's WarmUpAndCosineDecay).
 */
import { ArgumentError } from "../errors.js";

export type LrScaling = "linear" | "sqrt";

export function scaledLearningRate(base: number, batchSize: number, scaling: LrScaling): number {
  if (scaling === "linear") return (base * batchSize) / 256;
  if (scaling === "sqrt") return base * Math.sqrt(batchSize);
  throw new ArgumentError(`lrScaling must be 'linear' or 'sqrt', got '${String(scaling)}'`);
}

export interface WarmupCosineOptions {
  /** The learning rate reached at the end of warm-up. */
  peak: number;
  totalSteps: number;
  warmupSteps: number;
}

/** The learning rate for optimizer step `step` (0-based). */
export function warmupCosine(step: number, options: WarmupCosineOptions): number {
  const { peak, totalSteps, warmupSteps } = options;
  // 1) linear warm-up (the official code: lr * step / warmup_steps)
  if (step < warmupSteps) return (peak * step) / warmupSteps;
  // 2) cosine decay from peak to 0 over the remaining steps
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  return peak * 0.5 * (1 + Math.cos(Math.PI * progress));
}
