/**
 * MobileNetV3 and EfficientNet-B0 against torchvision (fixtures made by
 * test/fixtures/make-backbone-fixtures.py with torch 2.14.1 / torchvision 0.29.1): state-dict
 * names and shapes, h in eval and train mode, the BN running statistics after a train-mode
 * forward, and gradients. The weights are a formula of each entry's index (fill(), as in the
 * script); the BN running statistics come from the fixture.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  BatchNorm2d,
  buildEncoder,
  describeEncoder,
  EfficientNet,
  makeDivisible,
  MobileNetV3,
  noGrad,
  rand,
  readSafetensors,
  StochasticDepth,
  tensor,
  type Encoder,
  type EncoderOptions,
  type Tensor,
} from "../../src/index.js";
import { fixture, maxRelativeError } from "../helpers.js";

const CASES: { name: string; options: EncoderOptions }[] = [
  // torchvision's BN momentum for MobileNetV3 (0.01; this project's default is 0.1): the running mean after a step shows it
  { name: "mobilenet_v3_small-cifar", options: { arch: "mobilenet_v3_small", cifarStem: true, bnMomentum: 0.01 } },
  { name: "mobilenet_v3_large-x0.5", options: { arch: "mobilenet_v3_large", widthMult: 0.5, cifarStem: false, bnMomentum: 0.01 } },
  { name: "efficientnet_b0-cifar", options: { arch: "efficientnet_b0", cifarStem: true, stochasticDepth: 0 } },
];

/** fill() of make-backbone-fixtures.py: the value of state-dict entry number t. */
function fill(name: string, shape: readonly number[], t: number): Float32Array | null {
  if (name.endsWith("num_batches_tracked")) return null;
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  for (let j = 0; j < n; j++) {
    const base = Math.sin(0.61 * j + 1.3 * t + 0.5);
    if (name.endsWith("running_var")) v[j] = 0.8 + 0.2 * base;
    else if (name.endsWith("running_mean")) v[j] = 0.1 * base;
    else if (shape.length === 1 && name.endsWith(".weight")) v[j] = 1 + 0.25 * base;
    else if (shape.length === 1) v[j] = 0.1 * base;
    else v[j] = Math.sqrt(6 / fanIn) * base;
  }
  return v;
}

const io = readSafetensors(fixture("backbones.safetensors")).tensors;
const keys = JSON.parse(readFileSync(fixture("torchvision-backbone-keys.json"), "utf-8")) as Record<string, unknown>;
const get = (name: string): Tensor => {
  const t = io.get(name);
  assert.ok(t, `fixture tensor ${name}`);
  return t;
};

/** The case's encoder with the formula weights and the fixture's running statistics. */
function loaded(name: string, options: EncoderOptions): Encoder {
  const encoder = buildEncoder(options);
  const state = new Map<string, Tensor>();
  [...encoder.stateDict()].forEach(([k, t], i) => {
    const stats = io.get(`${name}/${k}`);
    const value = fill(k, t.shape, i);
    if (stats !== undefined) state.set(k, stats);
    else if (value !== null) state.set(k, tensor(value, { shape: t.shape }));
    else state.set(k, t);
  });
  encoder.loadStateDict(state);
  return encoder;
}

describe("MobileNetV3 and EfficientNet-B0 against torchvision (fixtures)", () => {
  for (const { name, options } of CASES) {
    test(`${name}: torchvision's state-dict names, shapes and order, and its parameter count`, () => {
      const encoder = buildEncoder(options);
      const expected = keys[name] as Record<string, number[]>;
      const actual = Object.fromEntries([...encoder.stateDict()].map(([k, t]) => [k, t.shape]));
      assert.deepEqual(Object.keys(actual), Object.keys(expected), "the same keys in the same order");
      assert.deepEqual(actual, expected);
      const params = encoder.parameters().reduce((n, p) => n + p.numel, 0);
      assert.equal(params, keys[`${name}_params`]);
    });

    test(`${name}: h in eval mode within 1e-4`, () => {
      const encoder = loaded(name, options).eval();
      const h = noGrad(() => encoder.call(get(`${name}/input`)));
      assert.deepEqual(h.shape, get(`${name}/h_eval`).shape);
      assert.equal(h.size(1), encoder.featureDim);
      assert.ok(maxRelativeError(h, get(`${name}/h_eval`)) < 1e-4, `h_eval off by ${maxRelativeError(h, get(`${name}/h_eval`))}`);
    });

    test(`${name}: h in train mode, the running mean after it, and the gradients of sum(h^2)`, () => {
      const encoder = loaded(name, options).train();
      const x = get(`${name}/input`).clone().requiresGrad_();
      const h = encoder.call(x);
      assert.ok(maxRelativeError(h, get(`${name}/h_train`)) < 1e-4, `h_train off by ${maxRelativeError(h, get(`${name}/h_train`))}`);
      const state = encoder.stateDict();
      assert.ok(maxRelativeError(state.get("features.0.1.running_mean")!, get(`${name}/running_mean_after`)) < 1e-4, "running mean");
      h.mul(h).sum().backward();
      const last = Object.keys(keys[name] as object)
        .filter((k) => /^features\.\d+\.0\.weight$/.test(k))
        .pop()!;
      const gLast = state.get(last)!.grad!.narrow(0, 0, 16);
      assert.ok(maxRelativeError(x.grad!, get(`${name}/grad_input`)) < 1e-3, "grad input");
      assert.ok(maxRelativeError(state.get("features.0.0.weight")!.grad!, get(`${name}/grad_first_conv`)) < 1e-3, "grad of the stem conv");
      assert.ok(maxRelativeError(gLast, get(`${name}/grad_last_conv`)) < 1e-3, `grad of ${last}`);
    });
  }

  test("a wrong weight deep inside is caught (the comparison can fail)", () => {
    const { name, options } = CASES[0]!;
    const encoder = loaded(name, options).eval();
    noGrad(() => encoder.stateDict().get("features.9.block.2.fc1.weight")!.mul_(1.05));
    const h = noGrad(() => encoder.call(get(`${name}/input`)));
    assert.ok(maxRelativeError(h, get(`${name}/h_eval`)) > 1e-4);
  });
});

describe("mobile backbones: structure and options", () => {
  test("makeDivisible rounds as torchvision's _make_divisible", () => {
    assert.deepEqual(
      [8, 12, 16, 20, 36, 44, 72 * 0.35, 960 * 0.75, 3].map((v) => makeDivisible(v, 8)),
      [8, 16, 16, 24, 40, 48, 24, 720, 8], // torchvision 0.29.1 printed these
    );
  });

  test("featureDim: 576 / 960 / 1280 at width 1, and the h each gives on a 1-channel ImageNet-stem input", () => {
    for (const [arch, dim] of [
      ["mobilenet_v3_small", 576],
      ["mobilenet_v3_large", 960],
      ["efficientnet_b0", 1280],
    ] as const) {
      const e = buildEncoder({ arch, inChannels: 1, cifarStem: false }).eval();
      assert.equal(e.featureDim, dim);
      const h = noGrad(() => e.call(rand([2, 1, 40, 40])));
      assert.deepEqual(h.shape, [2, dim]);
      assert.throws(() => e.call(rand([2, 3, 40, 40])), /expects input \(N, 1, H, W\)/);
    }
  });

  test("options that do not apply are refused; describeEncoder names each", () => {
    assert.throws(() => buildEncoder({ arch: "resnet18", widthMult: 0.5 }), /widthMult applies to mobilenet_v3_small and mobilenet_v3_large, not resnet18/);
    assert.throws(() => buildEncoder({ arch: "mobilenet_v3_small", widthMult: 0 }), /widthMult must be a positive number/);
    assert.throws(() => buildEncoder({ arch: "vgg16" as never }), /arch must be one of resnet18, .*efficientnet_b0, got vgg16/);
    assert.equal(describeEncoder(buildEncoder({ arch: "mobilenet_v3_small", widthMult: 0.5, cifarStem: true })), "mobilenet_v3_small x0.5, CIFAR stem");
    assert.equal(describeEncoder(buildEncoder({ arch: "efficientnet_b0" })), "efficientnet_b0");
    assert.ok(buildEncoder({ arch: "mobilenet_v3_small" }) instanceof MobileNetV3);
    const momenta = (arch: "mobilenet_v3_small", bnMomentum?: number) =>
      new Set(
        buildEncoder({ arch, ...(bnMomentum === undefined ? {} : { bnMomentum }) })
          .namedModules()
          .flatMap(([, m]) => (m instanceof BatchNorm2d ? [m.momentum] : [])),
      );
    assert.deepEqual([...momenta("mobilenet_v3_small")], [0.1], "PyTorch's default, not torchvision's 0.01 (docs/deploy.md)");
    assert.deepEqual([...momenta("mobilenet_v3_small", 0.01)], [0.01]);
    assert.ok(buildEncoder({ arch: "efficientnet_b0" }) instanceof EfficientNet);
  });

  test("EfficientNet's stochastic depth: torchvision's linear schedule, identity in eval mode", () => {
    const e = buildEncoder({ arch: "efficientnet_b0" }) as EfficientNet;
    const probabilities = e.stages.flat().map((s) => s.dropProbability);
    assert.equal(probabilities.length, 16);
    assert.equal(probabilities[0], 0);
    assert.ok(Math.abs(probabilities[15]! - (0.2 * 15) / 16) < 1e-12);
    const sd = new StochasticDepth(0.3).eval();
    const x = rand([8, 4, 2, 2]);
    assert.equal(sd.call(x), x, "eval: the input itself");
    assert.throws(() => new StochasticDepth(1.5), /p must be in \[0, 1\]/);
  });

  test("StochasticDepth in training drops whole samples with probability p and scales the rest by 1/(1-p)", () => {
    const p = 0.3;
    const sd = new StochasticDepth(p).train();
    const n = 20_000;
    const y = noGrad(() => sd.call(tensor(new Float32Array(n * 3).fill(1), { shape: [n, 3, 1, 1] })));
    const v = y.dataAsNumbers();
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const row = [v[3 * i], v[3 * i + 1], v[3 * i + 2]] as number[];
      assert.ok(
        row.every((r) => r === row[0]),
        "a sample is dropped or kept whole",
      );
      if (row[0] === 0) dropped++;
      else assert.ok(Math.abs(row[0]! - 1 / (1 - p)) < 1e-6);
    }
    // binomial: sd = sqrt(n p (1 - p)) = 65; 5 sd
    assert.ok(Math.abs(dropped - n * p) < 5 * Math.sqrt(n * p * (1 - p)), `${dropped} of ${n} dropped`);
  });
});
