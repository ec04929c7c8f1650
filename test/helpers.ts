/** Shared test helpers: fixture paths and tensor comparisons. */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Tensor } from "../src/index.js";

/** test/fixtures in the source tree (tests run from dist/test). */
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "fixtures");

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

/** max |a - b| / max |b|: the relative error the fixtures' tolerances are stated in. */
export function maxRelativeError(a: Tensor, b: Tensor): number {
  const x = a.dataAsNumbers();
  const y = b.dataAsNumbers();
  if (x.length !== y.length) throw new Error(`sizes differ: ${x.length} vs ${y.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs((x[i] as number) - (y[i] as number)));
    scale = Math.max(scale, Math.abs(y[i] as number));
  }
  return diff / (scale === 0 ? 1 : scale);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}
