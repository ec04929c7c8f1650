/**
 * Finite checks: the one place that asks whether a tensor holds NaN or infinite values. Weights
 * (nn/module.ts loadStateDict), features (embed, index, export) and the pretraining loop's
 * last-good checkpoint all use it, so "finite" means the same everywhere.
 */
import { isFloating } from "./dtype.js";
import { noGrad } from "./runtime.js";
import { tidy } from "./scope.js";
import type { Tensor } from "./tensor.js";

/** True when every element of `x` is finite (integer and boolean tensors always are). */
export function isAllFinite(x: Tensor): boolean {
  if (!isFloating(x.dtype)) return true;
  return tidy(() => noGrad(() => x.isfinite().all().item() === 1));
}

/** Rows of a (N, ...) tensor that hold at least one NaN or infinite value, in order. */
export function nonFiniteRows(x: Tensor): number[] {
  if (x.size(0) === 0 || isAllFinite(x)) return [];
  return tidy(() =>
    noGrad(() => {
      const bad = x
        .isfinite()
        .logicalNot()
        .reshape([x.size(0), -1])
        .any(1); // (N) bool
      return Array.from(bad.to("uint8").dataAsNumbers()).flatMap((b, i) => (b !== 0 ? [i] : []));
    }),
  );
}

/** Rows of `data`, read as (N, dim) row-major, that hold at least one NaN or infinite value, in order. */
export function nonFiniteRowsOfArray(data: Float32Array, dim: number): number[] {
  const bad: number[] = [];
  for (let row = 0; row * dim < data.length; row++) {
    for (let j = row * dim; j < (row + 1) * dim; j++) {
      if (!Number.isFinite(data[j] as number)) {
        bad.push(row);
        break;
      }
    }
  }
  return bad;
}
