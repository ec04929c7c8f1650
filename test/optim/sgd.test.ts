import assert from "node:assert/strict";
import { test } from "node:test";
import { SGD, tensor } from "../../src/index.js";

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
