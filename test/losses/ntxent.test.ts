import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { cat, ntXentLoss, randn, tensor, tidy, F } from "../../src/index.js";
import { fixture } from "../helpers.js";

interface Case {
  pairs: number;
  dim: number;
  temperature: number;
  z: number[][];
  loss: number;
  grad_z: number[][];
  contrastive_accuracy: number;
}
const cases = (JSON.parse(readFileSync(fixture("ntxent.json"), "utf-8")) as { cases: Case[] }).cases;

function maxDiff(a: ArrayLike<number>, b: number[]): number {
  let d = 0;
  for (let i = 0; i < b.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

describe("NT-Xent against the paper's Algorithm 1 (fixtures)", () => {
  for (const c of cases) {
    test(`${c.pairs} pairs, dim ${c.dim}, tau ${c.temperature}: float64 within 1e-9`, () => {
      const z = tensor(c.z, { dtype: "float64", requiresGrad: true });
      const { loss, accuracy } = ntXentLoss(z, { temperature: c.temperature });
      assert.ok(Math.abs(loss.item() - c.loss) < 1e-9, `loss ${loss.item()} vs ${c.loss}`);
      loss.backward();
      assert.ok(maxDiff(z.grad!.dataAsNumbers(), c.grad_z.flat()) < 1e-9);
      assert.equal(accuracy, c.contrastive_accuracy);
    });

    test(`${c.pairs} pairs, dim ${c.dim}, tau ${c.temperature}: float32 within 1e-5`, () => {
      const z = tensor(c.z, { dtype: "float32", requiresGrad: true });
      const { loss } = ntXentLoss(z, { temperature: c.temperature });
      assert.ok(Math.abs(loss.item() - c.loss) < 1e-5 * Math.max(1, Math.abs(c.loss)));
      loss.backward();
      assert.ok(maxDiff(z.grad!.dataAsNumbers(), c.grad_z.flat()) < 1e-5);
    });
  }
});

describe("NT-Xent properties", () => {
  test("identical views of orthogonal images: accuracy 1 and the analytic loss", () => {
    // z = [e0, e1, e2; e0, e1, e2]: positive similarity 1, negatives 0.
    const e = tensor(
      [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
      { dtype: "float64" },
    );
    const t = 0.5;
    const { loss, accuracy } = ntXentLoss(cat([e, e]), { temperature: t });
    // -log(e^{1/t} / (e^{1/t} + 4 e^0))
    const expected = -Math.log(Math.exp(1 / t) / (Math.exp(1 / t) + 4));
    assert.ok(Math.abs(loss.item() - expected) < 1e-12);
    assert.equal(accuracy, 1);
  });

  test("invariant to the scale of z and symmetric in the two views", () => {
    tidy(() => {
      const z = randn([12, 5], { dtype: "float64" });
      const a = ntXentLoss(z, { temperature: 0.2 }).loss.item();
      assert.ok(Math.abs(ntXentLoss(z.mul(7), { temperature: 0.2 }).loss.item() - a) < 1e-12);
      const swapped = cat([z.narrow(0, 6, 6), z.narrow(0, 0, 6)]);
      assert.ok(Math.abs(ntXentLoss(swapped, { temperature: 0.2 }).loss.item() - a) < 1e-12);
    });
  });

  test("local anchors: the mean over all ranks' local losses equals the global loss", () => {
    tidy(() => {
      const z = randn([16, 4], { dtype: "float64" }); // 8 pairs, as if gathered from 2 ranks of 4
      const global = ntXentLoss(z, { temperature: 0.5 }).loss.item();
      const r0 = ntXentLoss(z, { temperature: 0.5, local: { start: 0, count: 4 } }).loss.item();
      const r1 = ntXentLoss(z, { temperature: 0.5, local: { start: 4, count: 4 } }).loss.item();
      assert.ok(Math.abs((r0 + r1) / 2 - global) < 1e-12);
      assert.ok(Math.abs(r0 - global) > 1e-6, "a local loss is not the global one");
    });
  });

  test("uses cosine similarity: equals a direct computation on normalised rows", () => {
    tidy(() => {
      const z = randn([6, 3], { dtype: "float64" });
      const zn = F.normalize(z, 1).toArray() as number[][];
      const m = 3;
      let total = 0;
      for (let i = 0; i < 2 * m; i++) {
        const sims = zn.map((row, j) => (j === i ? -Infinity : row.reduce((s, v, k) => s + v * zn[i]![k]!, 0) / 0.3));
        const pos = sims[(i + m) % (2 * m)]!;
        total += -pos + Math.log(sims.reduce((s, v) => s + Math.exp(v), 0));
      }
      assert.ok(Math.abs(ntXentLoss(z, { temperature: 0.3 }).loss.item() - total / (2 * m)) < 1e-12);
    });
  });

  test("bad input is a clear error", () => {
    assert.throws(() => ntXentLoss(randn([5, 3]), { temperature: 0.5 }), /z must be \(2M, D\) with M >= 2 pairs, got \[5, 3\]/);
    assert.throws(() => ntXentLoss(randn([8, 3]), { temperature: 0 }), /temperature must be > 0/);
    assert.throws(() => ntXentLoss(randn([8, 3]), { temperature: 1, local: { start: 3, count: 2 } }), /local pairs \[3, 5\) are not within the 4 pairs/);
  });
});
