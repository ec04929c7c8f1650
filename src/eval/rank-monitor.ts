/**
 * The collapse monitor: RankMe (Garrido et al. 2023, "RankMe: assessing the downstream
 * performance of pretrained self-supervised representations"), the effective rank of a set of
 * representations, exp of the entropy of their normalised singular values. A run whose h
 * collapses to a few directions learns nothing, and its RankMe falls towards 1 long before a
 * probe says so; a healthy one stays a sizeable fraction of the feature dimension. As a
 * training callback it keeps the h of the last batches of each epoch (detached, at most
 * `samples` rows) and adds `rankme_h` to the epoch's metrics line.
 */
import { cat } from "../tensor/factory.js";
import { op } from "../tensor/op.js";
import { noGrad } from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import { wrap, type Tensor } from "../tensor/tensor.js";
import type { BatchEvent, EpochEvent, TrainCallback } from "../run/callbacks.js";
import { ArgumentError } from "../errors.js";

const svdvals = op("aten::linalg_svdvals");

/** RankMe of the rows of x (N, D): exp(-sum p log p), p = sigma / sum(sigma) + eps; in [1, min(N, D)]. */
export function effectiveRank(x: Tensor, eps = 1e-7): number {
  if (x.ndim !== 2 || x.size(0) < 1 || x.size(1) < 1) throw new ArgumentError(`effectiveRank: expected (N, D) with N, D >= 1, got [${x.shape.join(", ")}]`);
  return tidy(() =>
    noGrad(() => {
      const sigma = wrap(svdvals.call(x.to("float64").id, null)); // (min(N, D))
      const total = sigma.sum().item();
      if (!(total > 0)) return 1; // all zeros: one (degenerate) direction
      const p = sigma.div(total).add(eps);
      return Math.exp(-p.mul(p.log()).sum().item());
    }),
  );
}

export class RankMonitor implements TrainCallback {
  #rows: Tensor[] = [];
  #count = 0;

  /** Keeps up to `samples` rows of h (the most recent batches of the epoch). */
  constructor(readonly samples = 2048) {
    if (!(Number.isInteger(samples) && samples >= 2)) throw new ArgumentError(`RankMonitor: samples must be an integer >= 2, got ${samples}`);
  }

  onBatch({ h }: BatchEvent): void {
    const rows = keep(noGrad(() => h.detach().to("cpu").to("float32"))); // (2B, D)
    this.#rows.push(rows);
    this.#count += rows.size(0);
    while (this.#rows.length > 1 && this.#count - this.#rows[0]!.size(0) >= this.samples) {
      const old = this.#rows.shift()!;
      this.#count -= old.size(0);
      old.dispose();
    }
  }

  onEpochEnd(_event: EpochEvent): Record<string, number> | null {
    if (this.#rows.length === 0) return null;
    const rank = tidy(() => {
      const all = cat(this.#rows); // (M, D)
      return effectiveRank(all.narrow(0, Math.max(0, all.size(0) - this.samples), Math.min(this.samples, all.size(0))));
    });
    this.dispose();
    return { rankme_h: rank };
  }

  dispose(): void {
    for (const t of this.#rows) t.dispose();
    this.#rows = [];
    this.#count = 0;
  }
}
