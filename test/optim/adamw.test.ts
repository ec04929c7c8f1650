import assert from "node:assert/strict";
import { test } from "node:test";
import { AdamW, liveTensorCount, tensor, tidy, type NamedParameter, type Tensor } from "../../src/index.js";

interface Hyper {
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/** torch.optim.AdamW's rule (per-parameter step count) in plain numbers; lrs[t] is step t's lr. */
function reference(w0: number[], grads: (number[] | null)[], lrs: number[], o: Hyper): number[] {
  const w = [...w0];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  let step = 0;
  grads.forEach((g, t) => {
    if (g === null) return;
    step++;
    const lr = lrs[t]!;
    const [b1, b2] = o.betas;
    const c1 = 1 - b1 ** step;
    const c2 = 1 - b2 ** step;
    for (let i = 0; i < w.length; i++) {
      w[i] = w[i]! * (1 - lr * o.weightDecay);
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      w[i] = w[i]! - (lr / c1) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(c2) + o.eps));
    }
  });
  return w;
}

function assertClose(got: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.equal(got.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(got[i]! - expected[i]!) < tol, `${what}[${i}]: ${got[i]} vs ${expected[i]}`);
}

const W0 = { a: [0.5, -1.5, 2], b: [0.25, -0.75, 1.25, 3] };
const GRADS = {
  a: [
    [0.1, 0.2, -0.3],
    [-0.4, 0.5, 0.6],
    [0.7, -0.8, 0.9],
  ],
  b: [
    [1.5, -2.5, 0.01, 0],
    [-0.2, 0.3, -4, 1e-3],
    [0.05, 0.6, 2, -1],
  ],
};

function makeParams(): [Tensor, Tensor] {
  return [tensor(new Float64Array(W0.a), { requiresGrad: true }), tensor(new Float64Array(W0.b), { shape: [2, 2], requiresGrad: true })];
}

for (const hyper of [
  { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 },
  { betas: [0.8, 0.95], eps: 1e-3, weightDecay: 0.1 },
  { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
] as Hyper[]) {
  test(`AdamW (betas ${hyper.betas}, eps ${hyper.eps}, weight decay ${hyper.weightDecay}) follows torch.optim.AdamW over 3 steps`, () => {
    const [a, b] = makeParams();
    const opt = new AdamW(
      [
        ["a", a],
        ["b", b],
      ],
      { lr: 0.1, ...hyper },
    );
    const lrs = [0.1, 0.05, 0.2]; // the schedule changes lr between steps
    for (let t = 0; t < 3; t++) {
      opt.lr = lrs[t]!;
      a.grad = tensor(new Float64Array(GRADS.a[t]!));
      b.grad = tensor(new Float64Array(GRADS.b[t]!), { shape: [2, 2] });
      opt.step();
    }
    assert.equal(opt.steps, 3);
    assertClose(a.data() as Float64Array, reference(W0.a, GRADS.a, lrs, hyper), 1e-12, "a");
    assertClose(b.data() as Float64Array, reference(W0.b, GRADS.b, lrs, hyper), 1e-12, "b");
    assert.equal(a.dtype, "float64");
  });
}

test("AdamW defaults are torch's: betas (0.9, 0.999), eps 1e-8, weight decay 0.01", () => {
  const [a] = makeParams();
  const opt = new AdamW([["a", a]], { lr: 0.01 });
  assert.deepEqual(opt.betas, [0.9, 0.999]);
  assert.equal(opt.eps, 1e-8);
  assert.equal(opt.weightDecay, 0.01);
  a.grad = tensor(new Float64Array(GRADS.a[0]!));
  opt.step();
  assertClose(a.data() as Float64Array, reference(W0.a, [GRADS.a[0]!], [0.01], { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 }), 1e-12, "a");
});

test("AdamW skips parameters without gradients and zeroGrad clears them", () => {
  const [a, b] = makeParams();
  const opt = new AdamW(
    [
      ["a", a],
      ["b", b],
    ],
    { lr: 0.1 },
  );
  a.grad = tensor(new Float64Array(GRADS.a[0]!));
  opt.step();
  assert.deepEqual(Array.from(b.data() as Float64Array), W0.b, "no gradient, no decay either");
  assert.deepEqual([...opt.stateDict().keys()], ["exp_avg.a", "exp_avg_sq.a", "step.a"]);
  b.grad = tensor(new Float64Array(GRADS.b[0]!), { shape: [2, 2] });
  opt.zeroGrad();
  assert.equal(a.grad, null);
  assert.equal(b.grad, null);
});

test("AdamW counts steps per parameter like torch (a parameter first updated at step 2 gets step-1 bias correction)", () => {
  const [a, b] = makeParams();
  const opt = new AdamW(
    [
      ["a", a],
      ["b", b],
    ],
    { lr: 0.1 },
  );
  const hyper: Hyper = { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 };
  a.grad = tensor(new Float64Array(GRADS.a[0]!));
  opt.step(); // b has no gradient yet
  a.grad = tensor(new Float64Array(GRADS.a[1]!));
  b.grad = tensor(new Float64Array(GRADS.b[1]!), { shape: [2, 2] });
  opt.step();
  assertClose(b.data() as Float64Array, reference(W0.b, [null, GRADS.b[1]!], [0.1, 0.1], hyper), 1e-12, "b");
});

test("AdamW stateDict / loadStateDict round trip continues identically", () => {
  const hyper: Hyper = { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.05 };
  const [a1, b1] = makeParams();
  const named1: NamedParameter[] = [
    ["a", a1],
    ["b", b1],
  ];
  const opt1 = new AdamW(named1, { lr: 0.1, ...hyper });
  for (let t = 0; t < 2; t++) {
    a1.grad = tensor(new Float64Array(GRADS.a[t]!));
    b1.grad = tensor(new Float64Array(GRADS.b[t]!), { shape: [2, 2] });
    opt1.step();
  }
  const state = opt1.stateDict();
  assert.deepEqual([...state.keys()].sort(), ["exp_avg.a", "exp_avg.b", "exp_avg_sq.a", "exp_avg_sq.b", "step.a", "step.b"]);
  assert.deepEqual(state.get("exp_avg.b")!.shape, [2, 2]);
  // a saved copy, as a checkpoint would hold it
  const saved = new Map([...state].map(([k, t]) => [k, t.clone()]));

  // a fresh optimizer over parameters with the same values
  const a2 = tensor(a1.data() as Float64Array, { requiresGrad: true });
  const b2 = tensor(b1.data() as Float64Array, { shape: [2, 2], requiresGrad: true });
  const opt2 = new AdamW(
    [
      ["a", a2],
      ["b", b2],
    ],
    { lr: 0.1, ...hyper },
  );
  opt2.loadStateDict(saved);
  opt2.steps = opt1.steps;
  // loading copies: changing the saved tensors afterwards changes nothing
  for (const t of saved.values()) t.fill_(123);

  for (const [opt, a, b] of [
    [opt1, a1, b1],
    [opt2, a2, b2],
  ] as const) {
    a.grad = tensor(new Float64Array(GRADS.a[2]!));
    b.grad = tensor(new Float64Array(GRADS.b[2]!), { shape: [2, 2] });
    opt.step();
  }
  assert.deepEqual(Array.from(a2.data() as Float64Array), Array.from(a1.data() as Float64Array));
  assert.deepEqual(Array.from(b2.data() as Float64Array), Array.from(b1.data() as Float64Array));
  // and both equal the 3-step reference
  assertClose(a1.data() as Float64Array, reference(W0.a, GRADS.a, [0.1, 0.1, 0.1], hyper), 1e-12, "a");
});

test("AdamW loadStateDict rejects a wrong shape, naming the key; validates its options", () => {
  const [a] = makeParams();
  const opt = new AdamW([["a", a]], { lr: 0.1 });
  assert.throws(
    () => opt.loadStateDict(new Map([["exp_avg.a", tensor(new Float64Array(2))]])),
    /AdamW: saved state 'exp_avg\.a' has shape \[2\], the parameter \[3\]/,
  );
  assert.throws(() => new AdamW([], { lr: -1 }), /AdamW: lr must be >= 0, got -1/);
  assert.throws(() => new AdamW([], { lr: 0.1, betas: [1, 0.999] }), /AdamW: betas must be in \[0, 1\), got 1, 0\.999/);
  assert.throws(() => new AdamW([], { lr: 0.1, betas: [0.9, -0.1] }), /AdamW: betas must be in \[0, 1\)/);
});

test("AdamW stateDict returns its own tensors: repeated calls allocate nothing; dispose frees them", () => {
  const [a, b] = makeParams();
  const opt = new AdamW(
    [
      ["a", a],
      ["b", b],
    ],
    { lr: 0.1 },
  );
  // tidy frees the handles made here; libtorch keeps the gradients themselves
  tidy(() => {
    a.grad = tensor(new Float64Array(GRADS.a[0]!));
    b.grad = tensor(new Float64Array(GRADS.b[0]!), { shape: [2, 2] });
  });
  opt.step();
  opt.zeroGrad();
  const before = liveTensorCount();
  for (let i = 0; i < 20; i++) opt.stateDict();
  tidy(() => opt.stateDict()); // returning them from a scope must not free them either
  assert.equal(liveTensorCount(), before, "stateDict() made no tensors");
  const state = opt.stateDict();
  assert.equal(state.get("step.a"), opt.stateDict().get("step.a"), "the same reference each call");
  assert.equal(state.get("step.a")!.item(), 1);

  // step counts follow later steps, as the moments do (the references are live state)
  tidy(() => {
    a.grad = tensor(new Float64Array(GRADS.a[1]!));
  });
  opt.step();
  opt.zeroGrad();
  assert.equal(state.get("step.a")!.item(), 2);
  assert.equal(state.get("step.b")!.item(), 1);
  assert.equal(liveTensorCount(), before, "step() made no lasting tensors either");

  // loading copies: the given tensors stay the caller's, and nothing leaks
  const saved = new Map([...state].map(([k, t]) => [k, t.clone()]));
  const afterClone = liveTensorCount();
  opt.loadStateDict(saved);
  assert.equal(liveTensorCount(), afterClone, "replaced buffers are freed");
  assert.ok([...saved.values()].every((t) => !t.isDisposed));
  for (const t of saved.values()) t.dispose();

  opt.dispose();
  assert.equal(liveTensorCount(), before - state.size, "dispose() frees moments and step counts");
  assert.equal(opt.stateDict().size, 0);
});
