/**
 * Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, with
 * torch.optim.SGD's update rule:
 *   d = g + wd * w;  b = momentum * b + (1 - dampening) * d  (b = d on the first step)
 *   d = nesterov ? d + momentum * b : b;  w = w - lr * d
 */
import { noGrad } from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { disposeBuffers, namedParams, restoreBuffers, type NamedParameter, type Optimizer } from "./optimizer.js";
import { ArgumentError } from "../errors.js";

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD implements Optimizer {
  /** The parameters with their state-dict names; unnamed tensors are named by index ("0", "1", ...). */
  readonly params: NamedParameter[];
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  /** Momentum buffers by parameter name (absent until the parameter's first step). */
  readonly buffers = new Map<string, Tensor>();
  steps = 0;

  /** `params`: tensors, or [name, tensor] pairs (names key the checkpointed state). */
  constructor(params: Tensor[] | NamedParameter[], options: SGDOptions) {
    this.params = namedParams(params, "SGD(params)", { options });
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    if (!(this.lr >= 0)) throw new ArgumentError(`SGD: lr must be >= 0, got ${this.lr}`);
    if (!(this.momentum >= 0)) throw new ArgumentError(`SGD: momentum must be >= 0, got ${this.momentum}`);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new ArgumentError("SGD: Nesterov momentum needs momentum > 0 and dampening 0");
    }
  }

  /** Applies one update from the parameters' current gradients (those without one are skipped). */
  step(): void {
    noGrad(() => {
      for (const [name, p] of this.params) {
        tidy(() => {
          const g = p.grad; // freed with this scope, as every temporary below
          if (g === null) return;
          let d = this.weightDecay !== 0 ? g.add(p, this.weightDecay) : g;
          if (this.momentum !== 0) {
            let buf = this.buffers.get(name);
            if (buf === undefined) {
              buf = keep(d.clone()); // outlives this scope and any step() is called in
              this.buffers.set(name, buf);
            } else {
              buf.mul_(this.momentum).add_(d, 1 - this.dampening);
            }
            d = this.nesterov ? d.add(buf, this.momentum) : buf;
          }
          p.add_(d, -this.lr);
        });
      }
    });
    this.steps++;
  }

  /** "momentum.<name>" -> the buffer itself (see Optimizer.stateDict). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.buffers].map(([name, t]) => [`momentum.${name}`, t]));
  }

  loadStateDict(state: Map<string, Tensor>): void {
    // Before SGD keyed its state by name it wrote "momentum.<index>" (the online probe's
    // "probe.optimizer.momentum.0" in checkpoints of earlier runs): accept that layout too.
    const byName = new Map(state);
    this.params.forEach(([name], i) => {
      const legacy = state.get(`momentum.${i}`);
      if (legacy !== undefined && !state.has(`momentum.${name}`)) byName.set(`momentum.${name}`, legacy);
    });
    restoreBuffers("SGD", this.buffers, byName, "momentum.", this.params);
  }

  zeroGrad(): void {
    for (const [, p] of this.params) p.grad = null;
  }

  dispose(): void {
    disposeBuffers(this.buffers);
  }
}
