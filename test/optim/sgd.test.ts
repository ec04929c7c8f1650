import assert from "node:assert/strict";
import { test } from "node:test";
import { SGD, liveTensorCount, readSafetensors, tensor, tidy, zeros, type Tensor } from "../../src/index.js";
import { fixture } from "../helpers.js";

/** torch.optim.SGD's rule in plain numbers. */
function reference(w0: number[], grads: number[][], o: { lr: number; momentum: number; nesterov: boolean; weightDecay: number }): number[] {
  const w = [...w0];
  let buf: number[] | null = null;
  for (const g of grads) {
    const d = g.map((gi, i) => gi + o.weightDecay * w[i]!);
    let step = d;
    if (o.momentum !== 0) {
      buf = buf === null ? [...d] : buf.map((b, i) => o.momentum * b + d[i]!);
      step = o.nesterov ? d.map((di, i) => di + o.momentum * buf![i]!) : buf;
    }
    for (let i = 0; i < w.length; i++) w[i] = w[i]! - o.lr * step[i]!;
  }
  return w;
}

for (const nesterov of [false, true]) {
  test(`SGD (momentum, weight decay, nesterov=${nesterov}) follows torch.optim.SGD over 3 steps`, () => {
    const w0 = [0.5, -1.5, 2];
    const grads = [
      [0.1, 0.2, -0.3],
      [-0.4, 0.5, 0.6],
      [0.7, -0.8, 0.9],
    ];
    const o = { lr: 0.1, momentum: 0.9, nesterov, weightDecay: 0.01 };
    const p = tensor(new Float64Array(w0), { requiresGrad: true });
    const opt = new SGD([p], o);
    for (const g of grads) {
      p.grad = tensor(new Float64Array(g));
      opt.step();
    }
    const expected = reference(w0, grads, o);
    const got = [...p.data()] as number[];
    got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-12, `${v} vs ${expected[i]}`));
  });
}

test("SGD validates its options and skips parameters without gradients", () => {
  assert.throws(() => new SGD([], { lr: -1 }), /lr must be >= 0/);
  assert.throws(() => new SGD([], { lr: 0.1, nesterov: true }), /Nesterov momentum needs momentum > 0/);
  const p = tensor([1, 2], { requiresGrad: true });
  new SGD([p], { lr: 1 }).step();
  assert.deepEqual(p.toArray(), [1, 2]);
});

test("SGD's momentum buffers outlive a tidy scope around step()", async () => {
  const { tidy } = await import("../../src/index.js");
  const p = tensor([1, 2], { requiresGrad: true });
  const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
  for (let i = 0; i < 3; i++) {
    tidy(() => {
      p.grad = tensor([1, 1]);
      opt.step();
    });
  }
  // buffer: 1, 1.9, 2.71 -> w = 1 - 0.1 * (1 + 1.9 + 2.71)
  assert.ok(Math.abs((p.toArray() as number[])[0]! - (1 - 0.561)) < 1e-6);
});

/** Gives p the gradient `values` without leaving a handle behind (tidy frees the handle). */
function setGrad(p: Tensor, values: number[]): void {
  tidy(() => {
    p.grad = tensor(values, { dtype: p.dtype }).reshape(p.shape);
  });
}

test("SGD keys its state by parameter name, like LARS and AdamW (unnamed tensors by index)", () => {
  const w = tensor(
    [
      [1, 2],
      [3, 4],
    ],
    { requiresGrad: true },
  );
  const b = tensor([1, 2], { requiresGrad: true });
  const named = new SGD(
    [
      ["fc.weight", w],
      ["fc.bias", b],
    ],
    { lr: 0.1, momentum: 0.9 },
  );
  setGrad(w, [1, 1, 1, 1]);
  setGrad(b, [1, 1]);
  named.step();
  assert.deepEqual([...named.stateDict().keys()], ["momentum.fc.weight", "momentum.fc.bias"]);
  const unnamed = new SGD([w, b], { lr: 0.1, momentum: 0.9 });
  unnamed.step();
  assert.deepEqual([...unnamed.stateDict().keys()], ["momentum.0", "momentum.1"]);
  named.dispose();
  unnamed.dispose();
});

test("SGD loadStateDict copies, frees the buffers it replaces, and round-trips", () => {
  const make = () => tensor([1, -2, 3], { dtype: "float64", requiresGrad: true });
  const a = make();
  const optA = new SGD([["p", a]], { lr: 0.1, momentum: 0.9, nesterov: true });
  setGrad(a, [0.5, 0.25, -1]);
  optA.step();
  const saved = new Map([...optA.stateDict()].map(([k, t]) => [k, t.clone()]));

  const b = tensor(a.data(), { requiresGrad: true });
  const optB = new SGD([["p", b]], { lr: 0.1, momentum: 0.9, nesterov: true });
  const before = liveTensorCount();
  for (let i = 0; i < 10; i++) optB.loadStateDict(saved);
  assert.equal(liveTensorCount(), before + 1, "one buffer, however often it is loaded");
  assert.ok(
    [...saved.values()].every((t) => !t.isDisposed),
    "the given tensors stay the caller's",
  );
  tidy(() => saved.get("momentum.p")!.fill_(123)); // a copy: changing the source changes nothing
  for (const [opt, p] of [
    [optA, a],
    [optB, b],
  ] as const) {
    setGrad(p, [-0.5, 2, 0.125]);
    opt.step();
  }
  assert.deepEqual(b.toArray(), a.toArray());
  optB.dispose();
  assert.equal(liveTensorCount(), before, "dispose() frees the buffer");
});

test("SGD reads the index-keyed momentum of earlier checkpoints (the online probe's)", () => {
  const { tensors } = readSafetensors(fixture("legacy-run/checkpoints/step-0000005/optimizer.safetensors"));
  const state = new Map([...tensors].filter(([k]) => k.startsWith("probe.optimizer.")).map(([k, t]) => [k.slice("probe.optimizer.".length), t]));
  assert.deepEqual([...state.keys()].sort(), ["momentum.0", "momentum.1"], "the layout this test is about");
  const weight = zeros([10, 32]).requiresGrad_();
  const bias = zeros([10]).requiresGrad_();
  // the probe's parameters, as Linear.namedParameters() names them
  const opt = new SGD(
    [
      ["weight", weight],
      ["bias", bias],
    ],
    { lr: 0.1, momentum: 0.9, nesterov: true },
  );
  opt.loadStateDict(state);
  const restored = opt.stateDict();
  assert.deepEqual([...restored.keys()], ["momentum.weight", "momentum.bias"]);
  assert.deepEqual(restored.get("momentum.weight")!.toArray(), state.get("momentum.0")!.toArray());
  assert.deepEqual(restored.get("momentum.bias")!.toArray(), state.get("momentum.1")!.toArray());
  // a name-keyed entry wins over an index-keyed one for the same parameter
  const zero = zeros([10]);
  opt.loadStateDict(new Map(state).set("momentum.bias", zero));
  assert.deepEqual(opt.stateDict().get("momentum.bias")!.toArray(), new Array(10).fill(0));
  zero.dispose();
  opt.dispose();
  for (const t of tensors.values()) t.dispose();
});
