import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { manualSeed, noGrad, randn, readSafetensors, resnet, type ResNetDepth } from "../../src/index.js";
import { fixture, maxRelativeError } from "../helpers.js";

describe("ResNet-18 against PyTorch (fixtures)", () => {
  const weights = readSafetensors(fixture("resnet18-w16-cifar.safetensors")).tensors;
  const io = readSafetensors(fixture("resnet18-w16-cifar.io.safetensors")).tensors;
  const get = (name: string) => {
    const t = io.get(name);
    assert.ok(t, `fixture tensor ${name}`);
    return t;
  };

  test("eval-mode features match within 1e-4 relative", () => {
    const model = resnet({ depth: 18, width: 16, cifarStem: true });
    model.loadStateDict(weights);
    model.eval();
    const h = noGrad(() => model.forward(get("input")));
    assert.deepEqual(h.shape, [4, 128]);
    assert.ok(maxRelativeError(h, get("features_eval")) < 1e-4);
  });

  test("train-mode features, BN running statistics and gradients match", () => {
    const model = resnet({ depth: 18, width: 16, cifarStem: true });
    model.loadStateDict(weights);
    model.train();
    const x = get("input").clone().requiresGrad_();
    const h = model.forward(x);
    assert.ok(maxRelativeError(h, get("features_train")) < 1e-4, "features_train");
    assert.ok(maxRelativeError(model.bn1.runningMean, get("bn1_running_mean_after")) < 1e-4, "running mean");
    assert.ok(maxRelativeError(model.bn1.runningVar, get("bn1_running_var_after")) < 1e-4, "running var");
    assert.equal(model.bn1.numBatchesTracked.item(), (weights.get("bn1.num_batches_tracked")?.item() ?? 0) + 1);
    h.mul(h).sum().backward();
    const gw = model.conv1.weight.grad;
    const gx = x.grad;
    assert.ok(gw && gx);
    assert.ok(maxRelativeError(gw, get("grad_conv1_weight")) < 1e-3, "grad conv1.weight");
    assert.ok(maxRelativeError(gx, get("grad_input")) < 1e-3, "grad input");
  });

  test("a wrong weight is caught (the comparison can fail)", () => {
    const model = resnet({ depth: 18, width: 16, cifarStem: true });
    model.loadStateDict(weights);
    noGrad(() => model.layers[2].namedParameters()[0]?.[1].mul_(1.01));
    model.eval();
    const h = noGrad(() => model.forward(get("input")));
    assert.ok(maxRelativeError(h, get("features_eval")) > 1e-4);
  });
});

describe("ResNet structure", () => {
  const reference = JSON.parse(readFileSync(fixture("torchvision-resnet-keys.json"), "utf-8")) as Record<string, unknown>;

  for (const depth of [18, 50] as ResNetDepth[]) {
    test(`resnet${depth} has torchvision's state-dict names, shapes and parameter count`, () => {
      const model = resnet({ depth });
      const expected = reference[`resnet${depth}`] as Record<string, number[]>;
      const actual = Object.fromEntries([...model.stateDict()].map(([k, t]) => [k, t.shape]));
      assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
      for (const [k, shape] of Object.entries(expected)) assert.deepEqual(actual[k], shape, k);
      assert.equal(model.parameterCount(), reference[`resnet${depth}_params`]);
      assert.equal(model.featureDim, depth === 18 ? 512 : 2048);
      model.dispose();
    });
  }

  test("width, cifarStem and inChannels shape the network", () => {
    const model = resnet({ depth: 34, width: 8, cifarStem: true, inChannels: 1 });
    assert.deepEqual(model.conv1.weight.shape, [8, 1, 3, 3]);
    assert.equal(model.maxpool, null);
    assert.equal(model.featureDim, 64);
    const h = noGrad(() => model.eval().forward(randn([2, 1, 28, 28])));
    assert.deepEqual(h.shape, [2, 64]);
    const big = resnet({ depth: 50, width: 4 });
    assert.equal(big.featureDim, 128);
    const h2 = noGrad(() => big.eval().forward(randn([1, 3, 64, 64])));
    assert.deepEqual(h2.shape, [1, 128]);
  });

  test("torchvision initialisation: He normal fan_out convs, BN at 1/0, optional zero-init residual", () => {
    manualSeed(0);
    const model = resnet({ depth: 18, width: 64, zeroInitResidual: true });
    const w = model.namedParameters().find(([k]) => k === "layer3.0.conv1.weight")?.[1];
    assert.ok(w);
    // fan_out = 256 * 3 * 3, std = sqrt(2 / fan_out)
    const values = w.dataAsNumbers();
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    assert.ok(Math.abs(std / Math.sqrt(2 / (256 * 9)) - 1) < 0.02, `std ${std}`);
    assert.ok(Math.abs(mean) < 0.002);
    const bn = model.stateDict();
    assert.equal(bn.get("layer1.0.bn2.weight")?.abs().sum().item(), 0);
    assert.equal(bn.get("layer1.0.bn1.weight")?.sum().item(), 64);
    assert.equal(bn.get("bn1.bias")?.abs().sum().item(), 0);
  });

  test("bad options and inputs give clear errors", () => {
    assert.throws(() => resnet({ depth: 19 as ResNetDepth }), /depth must be one of 18, 34, 50, 101, 152/);
    assert.throws(() => resnet({ depth: 18, width: 0 }), /width must be a positive integer/);
    const model = resnet({ depth: 18, width: 4, cifarStem: true });
    assert.throws(() => model.forward(randn([2, 1, 32, 32])), /ResNet expects input \(N, 3, H, W\), got \[2, 1, 32, 32\]/);
    assert.throws(() => model.forward(randn([3, 32, 32])), /got \[3, 32, 32\]/);
  });
});
