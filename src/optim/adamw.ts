/**
 * AdamW (Loshchilov & Hutter 2019) with torch.optim.AdamW's rule:
 *   w = w - lr * wd * w;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 */
import { noGrad } from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import { tensor, zeros } from "../tensor/factory.js";
import type { Tensor } from "../tensor/tensor.js";
import { disposeBuffers, namedParams, restoreBuffers, type NamedParameter, type Optimizer } from "./optimizer.js";
import { ArgumentError } from "../errors.js";

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export class AdamW implements Optimizer {
  readonly params: NamedParameter[];
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly exp = new Map<string, Tensor>();
  readonly expSq = new Map<string, Tensor>();
  /** Steps each parameter has taken (torch counts per parameter: one may skip a step). */
  readonly paramSteps = new Map<string, number>();
  readonly #stepTensors = new Map<string, Tensor>();
  steps = 0;

  constructor(params: NamedParameter[], options: AdamWOptions) {
    this.params = namedParams(params, "AdamW(params)", { options });
    this.lr = options.lr;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    if (!(this.lr >= 0)) throw new ArgumentError(`AdamW: lr must be >= 0, got ${this.lr}`);
    for (const b of this.betas) if (!(b >= 0 && b < 1)) throw new ArgumentError(`AdamW: betas must be in [0, 1), got ${this.betas.join(", ")}`);
  }

  step(): void {
    this.steps++;
    const [b1, b2] = this.betas;
    noGrad(() => {
      for (const [name, w] of this.params) {
        tidy(() => {
          const g = w.grad; // freed with this scope, as every temporary below
          if (g === null) return;
          const t = (this.paramSteps.get(name) ?? 0) + 1;
          this.#setStep(name, t);
          const c1 = 1 - b1 ** t;
          const c2 = 1 - b2 ** t;
          let m = this.exp.get(name);
          let v = this.expSq.get(name);
          if (m === undefined || v === undefined) {
            m = keep(zeros(w.shape, { device: w.device, dtype: w.dtype })); // outlive this scope
            v = keep(zeros(w.shape, { device: w.device, dtype: w.dtype }));
            this.exp.set(name, m);
            this.expSq.set(name, v);
          }
          if (this.weightDecay !== 0) w.mul_(1 - this.lr * this.weightDecay);
          m.mul_(b1).add_(g, 1 - b1);
          v.mul_(b2).addcmul_(g, g, 1 - b2);
          const denom = v.div(c2).sqrt().add(this.eps);
          w.addcdiv_(m, denom, -this.lr / c1);
        });
      }
    });
  }

  /**
   * Records parameter `name`'s step count, in paramSteps (read by step()) and in the
   * float64 (1) tensor stateDict() hands out (torch saves `step` as a tensor too).
   */
  #setStep(name: string, t: number): void {
    this.paramSteps.set(name, t);
    const saved = this.#stepTensors.get(name);
    if (saved === undefined) this.#stepTensors.set(name, keep(tensor([t], { dtype: "float64" })));
    else saved.fill_(t);
  }

  zeroGrad(): void {
    for (const [, p] of this.params) p.grad = null;
  }

  /** "exp_avg.<name>", "exp_avg_sq.<name>", "step.<name>" -> the buffers themselves (see Optimizer.stateDict). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [k, t] of this.exp) out.set(`exp_avg.${k}`, t);
    for (const [k, t] of this.expSq) out.set(`exp_avg_sq.${k}`, t);
    for (const [k, t] of this.#stepTensors) out.set(`step.${k}`, t);
    return out;
  }

  loadStateDict(state: Map<string, Tensor>): void {
    restoreBuffers("AdamW", this.exp, state, "exp_avg.", this.params);
    restoreBuffers("AdamW", this.expSq, state, "exp_avg_sq.", this.params);
    for (const [name] of this.params) {
      const t = state.get(`step.${name}`);
      if (t !== undefined) this.#setStep(name, t.item());
    }
  }

  dispose(): void {
    disposeBuffers(this.exp);
    disposeBuffers(this.expSq);
    disposeBuffers(this.#stepTensors);
    this.paramSteps.clear();
  }
}
