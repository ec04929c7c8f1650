import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  Linear,
  MaxPool2d,
  AdaptiveAvgPool2d,
  Module,
  ReLU,
  Sequential,
  manualSeed,
  noGrad,
  randn,
  tensor,
  zeros,
  full,
  StateDictError,
  type Tensor,
} from "../../src/index.js";
import { maxAbsDiff } from "../helpers.js";

class Tiny extends Module {
  readonly body = this.registerModule("body", new Sequential(new Linear({ inFeatures: 3, outFeatures: 4 }), new ReLU()));
  readonly bn = this.registerModule("bn", new BatchNorm1d({ numFeatures: 4 }));
  forward(x: Tensor): Tensor {
    return this.bn.forward(this.body.forward(x));
  }
}

describe("Module", () => {
  test("names follow PyTorch's state-dict convention, parameters before buffers per module", () => {
    const m = new Tiny();
    assert.deepEqual(
      [...m.stateDict().keys()],
      ["body.0.weight", "body.0.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"],
    );
    assert.deepEqual(
      m.namedParameters().map(([k]) => k),
      ["body.0.weight", "body.0.bias", "bn.weight", "bn.bias"],
    );
    assert.ok(m.parameters().every((p) => p.requiresGrad));
    assert.equal(m.parameterCount(), 3 * 4 + 4 + 4 + 4);
  });

  test("loadStateDict copies values in place and is strict by default", () => {
    const a = new Tiny();
    const b = new Tiny();
    const weightBefore = b.body.layers[0] as Linear;
    b.loadStateDict(a.stateDict());
    assert.deepEqual([...weightBefore.weight.data()], [...(a.body.layers[0] as Linear).weight.data()]);

    const state = new Map(a.stateDict());
    state.delete("bn.running_mean");
    assert.throws(() => b.loadStateDict(state), /missing keys: bn.running_mean/);
    const extra = new Map(a.stateDict());
    extra.set("head.weight", zeros([1]));
    assert.throws(() => b.loadStateDict(extra), /unexpected keys: head.weight/);
    const result = b.loadStateDict(extra, { strict: false });
    assert.deepEqual(result, { missingKeys: [], unexpectedKeys: ["head.weight"] });
    const wrong = new Map(a.stateDict());
    wrong.set("body.0.weight", zeros([4, 2]));
    assert.throws(() => b.loadStateDict(wrong), /'body.0.weight' has shape \[4, 2\] in the state dict, the module expects \[4, 3\]/);
    assert.throws(() => b.loadStateDict(wrong, { strict: false }), /'body.0.weight' has shape/);
  });

  test("loadStateDict refuses what is not a tensor, floats from integers, and non-finite values (unless allowed), naming the key", () => {
    const a = new Tiny();
    const b = new Tiny();
    const before = [...(b.body.layers[0] as Linear).weight.data()];
    const notTensor = new Map<string, unknown>(a.stateDict());
    notTensor.set("body.0.weight", [[1, 2, 3]]);
    assert.throws(
      () => b.loadStateDict(notTensor as Map<string, Tensor>),
      (e: unknown) => e instanceof StateDictError && e.key === "body.0.weight" && /'body.0.weight' is an array, not a tensor/.test(e.message),
    );
    const ints = new Map(a.stateDict());
    ints.set("body.0.weight", zeros([4, 3], { dtype: "int32" }));
    assert.throws(() => b.loadStateDict(ints), /'body.0.weight' is int32 in the state dict, the module holds float32/);
    const doubles = new Map(a.stateDict());
    doubles.set("body.0.weight", zeros([4, 3], { dtype: "float64" }));
    b.loadStateDict(doubles); // float64 -> float32 is a cast, as in PyTorch
    const nan = new Map(a.stateDict());
    nan.set("bn.running_var", full([4], Number.NaN));
    assert.throws(
      () => b.loadStateDict(nan),
      (e: unknown) =>
        e instanceof StateDictError &&
        e.key === "bn.running_var" &&
        /holds NaN or infinite values \(loadStateDict\(state, \{ allowNonFinite: true \}\) accepts them\)/.test(e.message),
    );
    const inf = new Map(a.stateDict());
    inf.set("body.0.bias", full([4], Number.POSITIVE_INFINITY));
    assert.throws(() => b.loadStateDict(inf), /'body.0.bias' holds NaN or infinite values/);
    b.loadStateDict(nan, { allowNonFinite: true });
    assert.ok(Number.isNaN(b.bn.runningVar.data()[0] as number));
    void before;
  });

  test("train() and eval() reach every sub-module", () => {
    const m = new Tiny();
    m.eval();
    assert.ok(m.namedModules().every(([, x]) => !x.training));
    m.train();
    assert.ok(m.namedModules().every(([, x]) => x.training));
  });

  test("inInferenceMode runs in eval mode and gives each sub-module its own mode back, also on a throw", () => {
    const m = new Tiny();
    m.bn.eval(); // a frozen BN inside a training model: mixed modes must survive
    const seen = m.inInferenceMode(() => [m.training, m.body.training, m.bn.training]);
    assert.deepEqual(seen, [false, false, false]);
    assert.deepEqual([m.training, m.body.training, m.bn.training], [true, true, false]);
    assert.throws(() =>
      m.inInferenceMode(() => {
        throw new Error("boom");
      }),
    );
    assert.deepEqual([m.training, m.body.training, m.bn.training], [true, true, false]);
  });

  test("zeroGrad clears gradients", () => {
    const m = new Tiny();
    m.forward(randn([5, 3]))
      .sum()
      .backward();
    assert.ok(m.parameters().some((p) => p.grad !== null));
    m.zeroGrad();
    assert.ok(m.parameters().every((p) => p.grad === null));
  });
});

describe("layers against slow references", () => {
  test("BatchNorm2d: batch statistics, momentum 0.1, unbiased running variance, counter", () => {
    const bn = new BatchNorm2d({ numFeatures: 2 });
    const x = randn([3, 2, 2, 2]);
    const y = bn.forward(x);
    const xs = x.dataAsNumbers();
    const ys = y.dataAsNumbers();
    for (let c = 0; c < 2; c++) {
      const vals: number[] = [];
      const idx: number[] = [];
      for (let n = 0; n < 3; n++) for (let i = 0; i < 4; i++) idx.push(n * 8 + c * 4 + i);
      for (const i of idx) vals.push(xs[i]!);
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      const varBiased = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length;
      const varUnbiased = (varBiased * vals.length) / (vals.length - 1);
      for (const i of idx) assert.ok(Math.abs(ys[i]! - (xs[i]! - mean) / Math.sqrt(varBiased + 1e-5)) < 1e-5);
      assert.ok(Math.abs(bn.runningMean.dataAsNumbers()[c]! - 0.1 * mean) < 1e-6);
      assert.ok(Math.abs(bn.runningVar.dataAsNumbers()[c]! - (0.9 + 0.1 * varUnbiased)) < 1e-5);
    }
    assert.equal(bn.numBatchesTracked.item(), 1);
    bn.eval();
    const before = bn.runningMean.dataAsNumbers();
    const ye = noGrad(() => bn.forward(x)).dataAsNumbers();
    assert.deepEqual(bn.runningMean.dataAsNumbers(), before, "eval leaves statistics alone");
    assert.equal(bn.numBatchesTracked.item(), 1);
    const rv = bn.runningVar.dataAsNumbers();
    assert.ok(Math.abs(ye[0]! - (xs[0]! - before[0]!) / Math.sqrt(rv[0]! + 1e-5)) < 1e-5);
  });

  test("BatchNorm checks its input's rank and channels", () => {
    assert.throws(() => new BatchNorm2d({ numFeatures: 2 }).forward(randn([2, 2])), /BatchNorm2d expects a 4-d \(N, C, H, W\) input, got shape \[2, 2\]/);
    assert.throws(() => new BatchNorm1d({ numFeatures: 3 }).forward(randn([2, 2])), /BatchNorm1d\(3\) got 2 channels/);
    assert.throws(() => new BatchNorm1d({ numFeatures: 0 }), /numFeatures must be a positive integer/);
  });

  test("Conv2d equals a direct loop; default init is bounded by 1/sqrt(fan_in)", () => {
    manualSeed(3);
    const conv = new Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, stride: 2, padding: 1 });
    const bound = 1 / Math.sqrt(2 * 9);
    assert.ok(conv.weight.abs().max().item() <= bound && conv.bias!.abs().max().item() <= bound);
    const x = randn([1, 2, 5, 5]);
    const y = noGrad(() => conv.forward(x));
    assert.deepEqual(y.shape, [1, 3, 3, 3]);
    const xs = x.dataAsNumbers();
    const w = conv.weight.dataAsNumbers();
    const b = conv.bias!.dataAsNumbers();
    const expected: number[] = [];
    for (let o = 0; o < 3; o++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) {
          let s = b[o]!;
          for (let c = 0; c < 2; c++)
            for (let ki = 0; ki < 3; ki++)
              for (let kj = 0; kj < 3; kj++) {
                const r = i * 2 - 1 + ki;
                const q = j * 2 - 1 + kj;
                if (r >= 0 && r < 5 && q >= 0 && q < 5) s += xs[c * 25 + r * 5 + q]! * w[o * 18 + c * 9 + ki * 3 + kj]!;
              }
          expected.push(s);
        }
    assert.ok(maxAbsDiff(y.dataAsNumbers(), expected) < 1e-5);
    assert.throws(() => new Conv2d({ inChannels: 3, outChannels: 4, kernelSize: 3, groups: 2 }), /divisible by groups/);
  });

  test("Linear equals x W^T + b", () => {
    const lin = new Linear({ inFeatures: 2, outFeatures: 2 });
    noGrad(() => {
      lin.weight.copy_(
        tensor([
          [1, 2],
          [3, 4],
        ]),
      );
      lin.bias!.copy_(tensor([0.5, -1]));
    });
    assert.deepEqual(noGrad(() => lin.forward(tensor([[1, 1]]))).toArray(), [[3.5, 6]]);
    assert.equal(new Linear({ inFeatures: 2, outFeatures: 2, bias: false }).bias, null);
  });

  test("pooling", () => {
    const x = tensor([
      [
        [
          [1, 2, 3, 4],
          [5, 6, 7, 8],
          [9, 10, 11, 12],
          [13, 14, 15, 16],
        ],
      ],
    ]);
    assert.deepEqual(new MaxPool2d({ kernelSize: 2 }).forward(x).toArray(), [
      [
        [
          [6, 8],
          [14, 16],
        ],
      ],
    ]);
    assert.deepEqual(new AdaptiveAvgPool2d(1).forward(x).toArray(), [[[[8.5]]]]);
  });
});

describe("toMemoryFormat", () => {
  test("lays out a one-channel conv weight channels-last by its strides, so the conv's output is channels-last", () => {
    // (16, 1, 3, 3) is "contiguous" in both formats; oneDNN reads the layout from the strides
    // and, from NCHW strides, gives an NCHW output that every later layer converts back.
    const conv = new Conv2d({ inChannels: 1, outChannels: 16, kernelSize: 3, padding: 1, bias: false });
    assert.deepEqual(conv.weight.strides, [9, 9, 3, 1]);
    conv.toMemoryFormat("channels_last");
    assert.deepEqual(conv.weight.strides, [9, 1, 3, 1]);
    assert.ok(conv.weight.isStridedAs("channels_last") && !conv.weight.isStridedAs("contiguous"));
    const x = randn([4, 1, 8, 8]).contiguous("channels_last");
    const y = conv.forward(x);
    assert.deepEqual(y.strides, [1024, 1, 128, 16], "output (4, 16, 8, 8) in NHWC");
    const multi = new Conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, bias: false }).toMemoryFormat("channels_last");
    assert.deepEqual(multi.weight.strides, [27, 1, 9, 3]);
    multi.toMemoryFormat("contiguous");
    assert.deepEqual(multi.weight.strides, [27, 9, 3, 1]);
    for (const t of [x, y]) t.dispose();
  });
});
