/**
 * The projection head g(.): the official code's layout (Linear without bias + BN + ReLU,
 * the last BN without shift), state-dict names, shapes, and gradients.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ProjectionHead, manualSeed, noGrad, randn, type Tensor } from "../../src/index.js";

function layerKeys(i: number, last: boolean): string[] {
  return [
    `${i}.linear.weight`,
    `${i}.bn.weight`,
    ...(last ? [] : [`${i}.bn.bias`]),
    `${i}.bn.running_mean`,
    `${i}.bn.running_var`,
    `${i}.bn.num_batches_tracked`,
  ];
}

/** Per-column mean and biased variance of a (N, D) tensor. */
function columnStats(t: Tensor): { means: number[]; vars: number[] } {
  const [n, d] = t.shape as [number, number];
  const v = t.dataAsNumbers();
  const means: number[] = [];
  const vars: number[] = [];
  for (let j = 0; j < d; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += v[i * d + j]!;
    const m = s / n;
    let q = 0;
    for (let i = 0; i < n; i++) q += (v[i * d + j]! - m) ** 2;
    means.push(m);
    vars.push(q / n);
  }
  return { means, vars };
}

describe("ProjectionHead", () => {
  test("2 layers (SimCLR v1): state-dict names, shapes, the last BN has no bias", () => {
    const head = new ProjectionHead({ inFeatures: 32 });
    const keys = [...head.stateDict().keys()];
    assert.deepEqual(keys, [...layerKeys(0, false), ...layerKeys(1, true)]);
    const shapes = Object.fromEntries([...head.stateDict()].map(([k, t]) => [k, t.shape]));
    assert.deepEqual(shapes["0.linear.weight"], [32, 32], "hidden width defaults to inFeatures");
    assert.deepEqual(shapes["0.bn.weight"], [32]);
    assert.deepEqual(shapes["0.bn.bias"], [32]);
    assert.deepEqual(shapes["1.linear.weight"], [128, 32]);
    assert.deepEqual(shapes["1.bn.weight"], [128]);
    assert.deepEqual(shapes["1.bn.running_mean"], [128]);
    assert.equal(head.outFeatures, 128);
    assert.deepEqual(
      head.namedParameters().map(([k]) => k),
      ["0.linear.weight", "0.bn.weight", "0.bn.bias", "1.linear.weight", "1.bn.weight"],
    );
    assert.equal(head.parameterCount(), 32 * 32 + 32 + 32 + 128 * 32 + 128);
  });

  test("3 layers (SimCLR v2), explicit hidden and output widths", () => {
    const head = new ProjectionHead({ inFeatures: 16, layers: 3, hiddenFeatures: 24, outFeatures: 8 });
    assert.deepEqual([...head.stateDict().keys()], [...layerKeys(0, false), ...layerKeys(1, false), ...layerKeys(2, true)]);
    const shapes = Object.fromEntries([...head.stateDict()].map(([k, t]) => [k, t.shape]));
    assert.deepEqual(shapes["0.linear.weight"], [24, 16]);
    assert.deepEqual(shapes["1.linear.weight"], [24, 24]);
    assert.deepEqual(shapes["2.linear.weight"], [8, 24]);
    assert.deepEqual(shapes["2.bn.weight"], [8]);
    const z = head.forward(randn([10, 16]));
    assert.deepEqual(z.shape, [10, 8]);
    assert.deepEqual(new ProjectionHead({ inFeatures: 16, layers: 3 }).forward(randn([4, 16])).shape, [4, 128]);
  });

  for (const layers of [2, 3]) {
    test(`${layers} layers: z (N, 128) is batch-normalised without shift or ReLU at the end`, () => {
      manualSeed(1);
      const head = new ProjectionHead({ inFeatures: 20, layers });
      const h = randn([64, 20]);
      const z = head.forward(h);
      assert.deepEqual(z.shape, [64, 128]);
      assert.equal(z.dtype, "float32");
      // BN in training mode with gamma 1 and no beta: every column has mean 0 and variance ~1
      const { means, vars } = columnStats(z);
      assert.ok(
        means.every((m) => Math.abs(m) < 1e-4),
        "column means 0",
      );
      assert.ok(
        vars.every((v) => Math.abs(v - 1) < 1e-3),
        "column variances 1",
      );
      assert.ok(
        z.dataAsNumbers().some((v) => v < -0.5),
        "no ReLU after the last layer",
      );
      // running statistics were updated once per BN
      for (let i = 0; i < layers; i++) assert.equal(head.stateDict().get(`${i}.bn.num_batches_tracked`)!.item(), 1);
    });
  }

  test("forwardLayers(h, 1) is the first layer after ReLU: (N, hidden), non-negative; (h, 0) is a copy of h", () => {
    manualSeed(2);
    const head = new ProjectionHead({ inFeatures: 12, hiddenFeatures: 40 });
    const h = randn([32, 12]);
    const first = head.forwardLayers(h, 1);
    assert.deepEqual(first.shape, [32, 40]);
    const values = Array.from(first.dataAsNumbers());
    assert.ok(
      values.every((v) => v >= 0),
      "after ReLU",
    );
    const zeros = values.filter((v) => v === 0).length / values.length;
    assert.ok(zeros > 0.3 && zeros < 0.7, `about half the BN outputs are clipped: ${zeros}`);
    // the positive part equals BN(linear(h)) computed by hand, with batch statistics
    const w = head.stateDict().get("0.linear.weight")!;
    const a = noGrad(() => h.matmul(w.t()));
    const { means, vars } = columnStats(a);
    const av = a.dataAsNumbers();
    for (let i = 0; i < 32; i++)
      for (let j = 0; j < 40; j++) {
        const expected = Math.max(0, (av[i * 40 + j]! - means[j]!) / Math.sqrt(vars[j]! + 1e-5));
        assert.ok(Math.abs(values[i * 40 + j]! - expected) < 1e-4, `(${i}, ${j})`);
      }
    const copy = head.forwardLayers(h, 0);
    assert.notEqual(copy, h);
    assert.deepEqual(Array.from(copy.dataAsNumbers()), Array.from(h.dataAsNumbers()));
    h.dispose();
    assert.equal(copy.numel, 32 * 12, "the copy outlives h");
    // forwardLayers(h, all) is forward(h)
    const h2 = randn([8, 12]);
    head.eval();
    const full = noGrad(() => head.forward(h2));
    const viaLayers = noGrad(() => head.forwardLayers(h2, 2));
    assert.deepEqual(Array.from(viaLayers.dataAsNumbers()), Array.from(full.dataAsNumbers()));
  });

  for (const layers of [2, 3]) {
    test(`${layers} layers: gradients reach every parameter and the input`, () => {
      manualSeed(3);
      const head = new ProjectionHead({ inFeatures: 10, layers, outFeatures: 6 });
      const h = randn([16, 10]).requiresGrad_();
      const z = head.forward(h);
      // a random weighting: sum(z) alone has zero gradient through a BN
      z.mul(randn([16, 6]))
        .sum()
        .backward();
      for (const [name, p] of head.namedParameters()) {
        const g = p.grad;
        assert.ok(g, `${name} has a gradient`);
        assert.deepEqual(g.shape, p.shape);
        assert.ok(
          Array.from(g.dataAsNumbers()).some((v) => Math.abs(v) > 1e-8),
          `${name} gradient is not zero`,
        );
      }
      assert.ok(h.grad && Array.from(h.grad.dataAsNumbers()).some((v) => v !== 0), "input gradient");
    });
  }

  test("bad layer counts are errors", () => {
    assert.throws(() => new ProjectionHead({ inFeatures: 8, layers: -1 }), /ProjectionHead: layers must be an integer >= 0, got -1/);
    assert.throws(() => new ProjectionHead({ inFeatures: 8, layers: 1.5 }), /ProjectionHead: layers must be an integer >= 0, got 1\.5/);
    const none = new ProjectionHead({ inFeatures: 8, layers: 0 });
    assert.deepEqual([...none.stateDict().keys()], [], "no head has no parameters");
    assert.equal(none.outFeatures, 8, "z = h");
    const one = new ProjectionHead({ inFeatures: 8, layers: 1 });
    assert.deepEqual([...one.stateDict().keys()], layerKeys(0, true));
    assert.deepEqual(one.forward(randn([4, 8])).shape, [4, 128]);
  });
});
