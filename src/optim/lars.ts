/**
 * LARS, layer-wise adaptive rate scaling (You et al. 2017), as SimCLR uses it (section 2.2,
 * Appendix B.1) with the official code's semantics (google-research/simclr lars_optimizer.py):
 *
 *   excluded (biases, BN parameters): g' = g, lr' = lr
 *   others: g' = g + wd * w; trust = eta * ||w|| / ||g'|| (1 if either norm is 0); lr' = lr * trust
 *   v = momentum * v + lr' * g';  w = w - v          (classic momentum, v starts at 0)
 *
 * Everything stays on the device: the trust ratio is a tensor, never read back.
 */
import { where } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy, keep } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { disposeBuffers, namedParams, restoreBuffers, type NamedParameter, type Optimizer } from "./optimizer.js";
import { ArgumentError } from "../errors.js";

export interface LARSOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  /** eta, the trust coefficient (paper: 0.001). */
  trustCoefficient?: number;
  /**
   * Which parameters skip weight decay and adaptation. Default: 1-d tensors, i.e. biases
   * and BN scales/shifts (the official code matches 'bias' and 'batch_normalization').
   */
  exclude?: (name: string, tensor: Tensor) => boolean;
}

export class LARS implements Optimizer {
  readonly params: NamedParameter[];
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly trustCoefficient: number;
  readonly excluded: Set<string>;
  readonly velocity = new Map<string, Tensor>();
  steps = 0;

  constructor(params: NamedParameter[], options: LARSOptions) {
    this.params = namedParams(params, "LARS(params)", { options });
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0.9;
    this.weightDecay = options.weightDecay ?? 0;
    this.trustCoefficient = options.trustCoefficient ?? 0.001;
    if (!(this.lr >= 0)) throw new ArgumentError(`LARS: lr must be >= 0, got ${this.lr}`);
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new ArgumentError(`LARS: momentum must be in [0, 1), got ${this.momentum}`);
    if (!(this.weightDecay >= 0)) throw new ArgumentError(`LARS: weightDecay must be >= 0, got ${this.weightDecay}`);
    const exclude = options.exclude ?? ((_: string, t: Tensor) => t.ndim <= 1);
    this.excluded = new Set(params.filter(([name, t]) => exclude(name, t)).map(([name]) => name));
  }

  step(): void {
    noGrad(() => {
      for (const [name, w] of this.params) {
        tidy(() => {
          const g = w.grad; // freed with this scope, as every temporary below
          if (g === null) return;
          let update: Tensor; // lr' * g'
          if (this.excluded.has(name)) {
            update = g.mul(this.lr);
          } else {
            const decayed = this.weightDecay !== 0 ? g.add(w, this.weightDecay) : g;
            const wNorm = w.norm();
            const gNorm = decayed.norm();
            const ratio = wNorm.mul(this.trustCoefficient).div(gNorm);
            const trust = where(wNorm.gt(0).logicalAnd(gNorm.gt(0)), ratio, ratio.mul(0).add(1));
            update = decayed.mul(trust.mul(this.lr));
          }
          let v = this.velocity.get(name);
          if (v === undefined) {
            v = keep(update.clone()); // outlives this scope and any step() is called in
            this.velocity.set(name, v);
          } else {
            v.mul_(this.momentum).add_(update);
          }
          w.sub_(v);
        });
      }
    });
    this.steps++;
  }

  zeroGrad(): void {
    for (const [, p] of this.params) p.grad = null;
  }

  /** "velocity.<name>" -> the buffer itself (see Optimizer.stateDict). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.velocity].map(([k, v]) => [`velocity.${k}`, v]));
  }

  loadStateDict(state: Map<string, Tensor>): void {
    restoreBuffers("LARS", this.velocity, state, "velocity.", this.params);
  }

  dispose(): void {
    disposeBuffers(this.velocity);
  }
}
