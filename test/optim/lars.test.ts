import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { LARS, noGrad, tensor, zeros } from "../../src/index.js";
import { fixture } from "../helpers.js";

interface Case {
  name: string;
  excluded_from_wd_and_adaptation: boolean;
  lr: number;
  momentum: number;
  weight_decay: number;
  trust_coefficient: number;
  w0: unknown;
  grads: unknown[];
  w_after_each_step: unknown[];
}
const cases = (JSON.parse(readFileSync(fixture("lars.json"), "utf-8")) as { cases: Case[] }).cases;
const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);

describe("LARS with the official semantics (fixtures)", () => {
  for (const c of cases) {
    test(`${c.name}: three steps`, () => {
      const w = tensor(c.w0 as number[], { dtype: "float64", requiresGrad: true });
      const opt = new LARS([[c.name, w]], { lr: c.lr, momentum: c.momentum, weightDecay: c.weight_decay, trustCoefficient: c.trust_coefficient });
      assert.equal(opt.excluded.has(c.name), c.excluded_from_wd_and_adaptation, "exclusion");
      c.grads.forEach((g, k) => {
        w.grad = tensor(g as number[], { dtype: "float64" });
        opt.step();
        const expected = flat(c.w_after_each_step[k]);
        const got = w.dataAsNumbers();
        for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(got[i]! - expected[i]!) < 1e-12, `step ${k} element ${i}`);
      });
    });
  }

  test("a zero weight or zero gradient uses trust 1", () => {
    const w = zeros([2, 2], { dtype: "float64" }).requiresGrad_();
    const opt = new LARS([["w", w]], { lr: 0.1, momentum: 0, weightDecay: 0 });
    w.grad = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: "float64" },
    );
    opt.step();
    assert.deepEqual(w.toArray(), [
      [-0.1, -0.2],
      [-0.30000000000000004, -0.4],
    ]);
  });

  test("state round trip continues identically; bad options are refused", () => {
    const make = () =>
      tensor(
        [
          [1, -2],
          [3, 0.5],
        ],
        { dtype: "float64", requiresGrad: true },
      );
    const a = make();
    const b = make();
    const optA = new LARS([["w", a]], { lr: 0.5, weightDecay: 1e-4 });
    const grad = () =>
      tensor(
        [
          [0.1, 0.2],
          [-0.3, 0.4],
        ],
        { dtype: "float64" },
      );
    a.grad = grad();
    optA.step();
    b.grad = null;
    noGrad(() => b.copy_(a));
    const optB = new LARS([["w", b]], { lr: 0.5, weightDecay: 1e-4 });
    optB.loadStateDict(optA.stateDict());
    a.grad = grad();
    optA.step();
    b.grad = grad();
    optB.step();
    assert.deepEqual(b.toArray(), a.toArray());
    assert.throws(() => new LARS([], { lr: -1 }), /lr must be >= 0/);
    assert.throws(() => new LARS([], { lr: 1, momentum: 1 }), /momentum must be in \[0, 1\)/);
  });
});
