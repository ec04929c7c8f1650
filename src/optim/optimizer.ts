/** What the training loop needs from an optimizer. */
import type { Tensor } from "../tensor/tensor.js";

/** A parameter with its state-dict name (names decide LARS exclusions and checkpoint keys). */
export type NamedParameter = [name: string, tensor: Tensor];

export interface Optimizer {
  /** The learning rate of the next step; the schedule sets it before each step. */
  lr: number;
  step(): void;
  zeroGrad(): void;
  /** Per-parameter buffers (momentum, moments) by key, for checkpoints. */
  stateDict(): Map<string, Tensor>;
  /** Restores buffers saved by stateDict() (copies; missing keys mean no step taken yet). */
  loadStateDict(state: Map<string, Tensor>): void;
  /** Steps taken, for optimizers whose update depends on it. */
  steps: number;
}

/** Restores `saved` into `buffers`, by key, checking shapes; a key names the parameter. */
export function restoreBuffers(kind: string, buffers: Map<string, Tensor>, saved: Map<string, Tensor>, prefix: string, params: NamedParameter[]): void {
  for (const [name, p] of params) {
    const t = saved.get(prefix + name);
    if (t === undefined) continue;
    const a = t.shape;
    const b = p.shape;
    if (a.length !== b.length || a.some((n, i) => n !== b[i])) {
      throw new Error(`${kind}: saved state '${prefix + name}' has shape [${a.join(", ")}], the parameter [${b.join(", ")}]`);
    }
    buffers.get(name)?.dispose();
    buffers.set(name, t.to(p.device).clone());
  }
}
