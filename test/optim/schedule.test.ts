import assert from "node:assert/strict";
import { test } from "node:test";
import { scaledLearningRate, warmupCosine, type LrScaling } from "../../src/index.js";

test("scaledLearningRate: linear is lr x B / 256, sqrt is lr x sqrt(B)", () => {
  assert.equal(scaledLearningRate(0.3, 256, "linear"), 0.3);
  assert.equal(scaledLearningRate(0.3, 4096, "linear"), 4.8);
  assert.equal(scaledLearningRate(1, 128, "linear"), 0.5);
  assert.equal(scaledLearningRate(0.075, 256, "sqrt"), 1.2);
  assert.ok(Math.abs(scaledLearningRate(0.075, 4096, "sqrt") - 4.8) < 1e-12);
  assert.ok(Math.abs(scaledLearningRate(0.5, 2, "sqrt") - 0.5 * Math.SQRT2) < 1e-15);
  assert.throws(() => scaledLearningRate(1, 256, "log" as LrScaling), /^ArgumentError: lrScaling must be 'linear' or 'sqrt', got 'log'$/);
});

test("warmupCosine: 0 at step 0, linear warm-up, peak, cosine halfway at peak/2, 0 at the end", () => {
  const o = { peak: 2, totalSteps: 110, warmupSteps: 10 };
  assert.equal(warmupCosine(0, o), 0);
  for (let s = 0; s < 10; s++) assert.ok(Math.abs(warmupCosine(s, o) - (2 * s) / 10) < 1e-12, `warm-up step ${s}`);
  assert.equal(warmupCosine(10, o), 2);
  assert.ok(Math.abs(warmupCosine(60, o) - 1) < 1e-12, "halfway");
  assert.ok(Math.abs(warmupCosine(35, o) - 1 - Math.SQRT1_2) < 1e-12, "a quarter of the way: peak (1 + cos(pi/4)) / 2");
  assert.ok(Math.abs(warmupCosine(110, o)) < 1e-12, "0 at the end");
  assert.ok(Math.abs(warmupCosine(150, o)) < 1e-12, "stays 0 past the end");
  for (let s = 0; s < 10; s++) assert.ok(warmupCosine(s + 1, o) > warmupCosine(s, o), `increasing at ${s}`);
  for (let s = 10; s < 110; s++) assert.ok(warmupCosine(s + 1, o) < warmupCosine(s, o), `decreasing at ${s}`);
  for (let s = 0; s <= 110; s++) {
    const lr = warmupCosine(s, o);
    assert.ok(lr >= 0 && lr <= 2, `in [0, peak] at ${s}`);
  }
  for (let s = 10; s <= 110; s++) {
    const expected = 0.5 * 2 * (1 + Math.cos((Math.PI * (s - 10)) / 100));
    assert.ok(Math.abs(warmupCosine(s, o) - expected) < 1e-12, `cosine at ${s}`);
  }
});

test("warmupCosine without warm-up starts at the peak", () => {
  const o = { peak: 0.5, totalSteps: 20, warmupSteps: 0 };
  assert.equal(warmupCosine(0, o), 0.5);
  assert.ok(Math.abs(warmupCosine(10, o) - 0.25) < 1e-12);
  assert.ok(Math.abs(warmupCosine(20, o)) < 1e-12);
  for (let s = 0; s < 20; s++) assert.ok(warmupCosine(s + 1, o) < warmupCosine(s, o));
});

test("warmupCosine with warm-up as long as the run ends at the peak", () => {
  const o = { peak: 1, totalSteps: 5, warmupSteps: 5 };
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((s) => warmupCosine(s, o)),
    [0, 0.2, 0.4, 0.6, 0.8],
  );
  assert.equal(warmupCosine(5, o), 1);
});
