/**
 * Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, with
 * torch.optim.SGD's update rule:
 *   d = g + wd * w;  b = momentum * b + (1 - dampening) * d  (b = d on the first step)
 *   d = nesterov ? d + momentum * b : b;  w = w - lr * d
 */
import { noGrad } from "../tensor/runtime.js";
import { keep } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { restoreBuffers, type NamedParameter, type Optimizer } from "./optimizer.js";

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD implements Optimizer {
  readonly params: Tensor[];
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  /** Momentum buffers by parameter index (absent until the first step). */
  readonly buffers = new Map<number, Tensor>();
  steps = 0;

  /** `params`: tensors, or [name, tensor] pairs (names key the checkpointed state). */
  constructor(params: Tensor[] | NamedParameter[], options: SGDOptions) {
    this.params = params.map((p) => (Array.isArray(p) ? p[1] : p));
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    if (!(this.lr >= 0)) throw new RangeError(`SGD: lr must be >= 0, got ${this.lr}`);
    if (!(this.momentum >= 0)) throw new RangeError(`SGD: momentum must be >= 0, got ${this.momentum}`);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError("SGD: Nesterov momentum needs momentum > 0 and dampening 0");
    }
  }

  /** Applies one update from the parameters' current gradients (those without one are skipped). */
  step(): void {
    noGrad(() => {
      this.params.forEach((p, i) => {
        const g = p.grad;
        if (g === null) return;
        let d = this.weightDecay !== 0 ? g.add(p, this.weightDecay) : g;
        if (this.momentum !== 0) {
          let buf = this.buffers.get(i);
          if (buf === undefined) {
            buf = keep(d.clone()); // outlives any tidy scope step() is called in
            this.buffers.set(i, buf);
          } else {
            buf.mul_(this.momentum).add_(d, 1 - this.dampening);
          }
          const next = this.nesterov ? d.add(buf, this.momentum) : buf;
          if (d !== g) d.dispose();
          d = next;
        }
        p.add_(d, -this.lr);
        if (d !== g && d !== this.buffers.get(i)) d.dispose();
        g.dispose();
      });
    });
    this.steps++;
  }

  stateDict(): Map<string, Tensor> {
    return new Map([...this.buffers].map(([i, t]) => [`momentum.${i}`, t]));
  }

  loadStateDict(state: Map<string, Tensor>): void {
    const byIndex = new Map<string, Tensor>();
    restoreBuffers("SGD", byIndex, state, "momentum.", this.params.map((p, i): NamedParameter => [String(i), p]));
    for (const [k, t] of byIndex) this.buffers.set(Number(k), t);
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }
}
