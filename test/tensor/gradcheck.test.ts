/**
 * Every wrapped differentiable op: autograd's gradient against central finite differences,
 * in float64. Inputs avoid kinks (|x| >= 0.1 where an op has one at 0).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { F, cat, noGrad, stack, tensor, tidy, where, type Tensor } from "../../src/index.js";
import { rng } from "../helpers.js";

type Domain = "any" | "positive" | "awayFromZero";
interface Input {
  shape: number[];
  domain?: Domain;
}

function sample(shape: number[], domain: Domain, next: () => number): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = next() * 2 - 1;
    if (domain === "positive") out[i] = 0.5 + 1.5 * Math.abs(u);
    else if (domain === "awayFromZero") out[i] = (u < 0 ? -1 : 1) * (0.1 + Math.abs(u));
    else out[i] = u * 2;
  }
  return out;
}

/** Checks d(sum(w * f(x)))/dx from autograd against central differences. */
function gradcheck(f: (...xs: Tensor[]) => Tensor, inputs: Input[], seed = 1): void {
  const next = rng(seed);
  const data = inputs.map((inp) => sample(inp.shape, inp.domain ?? "any", next));
  const make = (values: Float64Array, shape: number[], grad: boolean) => tensor(values, { shape, dtype: "float64", requiresGrad: grad });

  tidy(() => {
    const xs = data.map((d, i) => make(d, inputs[i]!.shape, true));
    const y = f(...xs);
    const wValues = sample(y.shape, "any", next);
    const w = tensor(wValues, { shape: y.shape, dtype: "float64" });
    y.mul(w).sum().backward();
    const objective = (values: Float64Array[]): number =>
      tidy(() =>
        noGrad(() =>
          f(...values.map((v, i) => make(v, inputs[i]!.shape, false)))
            .mul(w)
            .sum()
            .item(),
        ),
      );

    const eps = 1e-6;
    xs.forEach((x, i) => {
      const analytic = x.grad?.dataAsNumbers();
      assert.ok(analytic, `input ${i} got no gradient`);
      const values = data.map((d) => d.slice());
      const own = values[i]!;
      for (let j = 0; j < own.length; j++) {
        const keep = own[j]!;
        own[j] = keep + eps;
        const plus = objective(values);
        own[j] = keep - eps;
        const minus = objective(values);
        own[j] = keep;
        const numeric = (plus - minus) / (2 * eps);
        const a = analytic[j]!;
        assert.ok(Math.abs(a - numeric) <= 1e-5 + 1e-4 * Math.abs(numeric), `input ${i} element ${j}: autograd ${a}, finite difference ${numeric}`);
      }
    });
  });
}

const idx = (values: number[], shape?: number[]) => tensor(values, { dtype: "int64", shape: shape ?? [values.length] });

const cases: [string, (...xs: Tensor[]) => Tensor, Input[]][] = [
  ["add (broadcast, alpha)", (a, b) => a.add(b!, 2), [{ shape: [2, 3] }, { shape: [3] }]],
  ["add scalar", (a) => a.add(1.5), [{ shape: [4] }]],
  ["sub", (a, b) => a.sub(b!), [{ shape: [2, 3] }, { shape: [2, 3] }]],
  ["mul", (a, b) => a.mul(b!), [{ shape: [2, 3] }, { shape: [2, 1] }]],
  ["mul scalar", (a) => a.mul(-3), [{ shape: [3] }]],
  ["div", (a, b) => a.div(b!), [{ shape: [2, 3] }, { shape: [2, 3], domain: "positive" }]],
  ["div scalar", (a) => a.div(4), [{ shape: [3] }]],
  ["pow scalar", (a) => a.pow(3), [{ shape: [5] }]],
  ["pow tensor", (a, b) => a.pow(b!), [{ shape: [4], domain: "positive" }, { shape: [4] }]],
  ["neg", (a) => a.neg(), [{ shape: [3] }]],
  ["exp", (a) => a.exp(), [{ shape: [2, 2] }]],
  ["log", (a) => a.log(), [{ shape: [2, 2], domain: "positive" }]],
  ["sqrt", (a) => a.sqrt(), [{ shape: [4], domain: "positive" }]],
  ["rsqrt", (a) => a.rsqrt(), [{ shape: [4], domain: "positive" }]],
  ["reciprocal", (a) => a.reciprocal(), [{ shape: [4], domain: "positive" }]],
  ["abs", (a) => a.abs(), [{ shape: [6], domain: "awayFromZero" }]],
  ["square", (a) => a.square(), [{ shape: [4] }]],
  ["relu", (a) => a.relu(), [{ shape: [6], domain: "awayFromZero" }]],
  ["sigmoid", (a) => a.sigmoid(), [{ shape: [5] }]],
  ["tanh", (a) => a.tanh(), [{ shape: [5] }]],
  ["clamp", (a) => a.clamp(-0.05, 0.05), [{ shape: [6], domain: "awayFromZero" }]],
  ["sum all", (a) => a.sum(), [{ shape: [2, 3] }]],
  ["sum dim", (a) => a.sum(1), [{ shape: [2, 3] }]],
  ["mean dims keepdim", (a) => a.mean([0, 2], true), [{ shape: [2, 3, 2] }]],
  ["max dim", (a) => a.max(1).values, [{ shape: [3, 4] }]],
  ["amax", (a) => a.amax(0), [{ shape: [3, 4] }]],
  ["norm", (a) => a.norm(2, 1), [{ shape: [3, 4] }]],
  ["logsumexp", (a) => a.logsumexp(1), [{ shape: [3, 4] }]],
  ["cumsum", (a) => a.cumsum(1), [{ shape: [2, 4] }]],
  ["softmax", (a) => a.softmax(1), [{ shape: [2, 4] }]],
  ["logSoftmax", (a) => a.logSoftmax(0), [{ shape: [3, 2] }]],
  ["matmul", (a, b) => a.matmul(b!), [{ shape: [2, 3] }, { shape: [3, 2] }]],
  ["mm", (a, b) => a.mm(b!), [{ shape: [3, 2] }, { shape: [2, 4] }]],
  ["bmm", (a, b) => a.bmm(b!), [{ shape: [2, 2, 3] }, { shape: [2, 3, 2] }]],
  ["t", (a) => a.t().mul(a.t()), [{ shape: [2, 3] }]],
  ["transpose", (a) => a.transpose(0, 2), [{ shape: [2, 3, 2] }]],
  ["permute", (a) => a.permute([2, 0, 1]), [{ shape: [2, 3, 2] }]],
  ["reshape", (a) => a.reshape([3, -1]), [{ shape: [2, 3, 2] }]],
  ["view", (a) => a.view([6]), [{ shape: [2, 3] }]],
  ["flatten", (a) => a.flatten(1), [{ shape: [2, 2, 2] }]],
  ["unsqueeze + squeeze", (a) => a.unsqueeze(1).mul(2).squeeze(1), [{ shape: [2, 3] }]],
  ["expand", (a) => a.expand([3, 4]), [{ shape: [3, 1] }]],
  ["repeat", (a) => a.repeat([2, 1]), [{ shape: [2, 3] }]],
  ["flip", (a) => a.flip([1]), [{ shape: [2, 3] }]],
  ["narrow", (a) => a.narrow(1, 1, 2), [{ shape: [2, 4] }]],
  ["select", (a) => a.select(0, 1), [{ shape: [3, 2] }]],
  ["slice", (a) => a.slice(1, 0, null, 2), [{ shape: [2, 5] }]],
  ["indexSelect", (a) => a.indexSelect(0, idx([2, 0, 2])), [{ shape: [3, 2] }]],
  ["index", (a) => a.index([idx([1, 0, 1])]), [{ shape: [2, 3] }]],
  ["gather", (a) => a.gather(1, idx([0, 2, 1, 1], [2, 2])), [{ shape: [2, 3] }]],
  ["maskedFill", (a) => a.maskedFill(tensor([[true, false, true]]), 0), [{ shape: [2, 3] }]],
  ["contiguous + clone", (a) => a.t().contiguous().clone(), [{ shape: [2, 3] }]],
  ["where", (a, b) => where(tensor([true, false, true, false]), a, b!), [{ shape: [4] }, { shape: [4] }]],
  ["cat", (a, b) => cat([a, b!], 1), [{ shape: [2, 1] }, { shape: [2, 3] }]],
  ["stack", (a, b) => stack([a, b!], 0), [{ shape: [3] }, { shape: [3] }]],
  [
    "conv2d (stride, padding, bias)",
    (x, w, b) => F.conv2d(x, w!, b!, { stride: 2, padding: 1 }),
    [{ shape: [1, 2, 5, 5] }, { shape: [3, 2, 3, 3] }, { shape: [3] }],
  ],
  ["conv2d (groups, dilation)", (x, w) => F.conv2d(x, w!, null, { groups: 2, dilation: 2 }), [{ shape: [1, 4, 5, 5] }, { shape: [2, 2, 2, 2] }]],
  ["batchNorm (training)", (x, g, b) => F.batchNorm(x, null, null, g!, b!, true), [{ shape: [4, 3, 2, 2] }, { shape: [3] }, { shape: [3] }]],
  ["batchNorm1d (training, no affine)", (x) => F.batchNorm(x, null, null, null, null, true), [{ shape: [5, 3] }]],
  ["linear", (x, w, b) => F.linear(x, w!, b!), [{ shape: [3, 4] }, { shape: [2, 4] }, { shape: [2] }]],
  ["maxPool2d", (x) => F.maxPool2d(x, 2), [{ shape: [1, 2, 4, 4] }]],
  ["maxPool2d (3, stride 2, pad 1)", (x) => F.maxPool2d(x, 3, 2, 1), [{ shape: [1, 1, 5, 5] }]],
  ["avgPool2d", (x) => F.avgPool2d(x, 2), [{ shape: [1, 2, 4, 4] }]],
  ["adaptiveAvgPool2d", (x) => F.adaptiveAvgPool2d(x, 1), [{ shape: [2, 3, 3, 3] }]],
  ["crossEntropy", (x) => F.crossEntropy(x, idx([0, 2, 1])), [{ shape: [3, 4] }]],
  ["normalize", (x) => F.normalize(x, 1), [{ shape: [3, 4] }]],
  ["mseLoss", (a, b) => F.mseLoss(a, b!), [{ shape: [2, 3] }, { shape: [2, 3] }]],
  ["relu_ after an op", (a) => F.relu_(a.mul(2)), [{ shape: [6], domain: "awayFromZero" }]],
];

describe("gradients against finite differences (float64)", () => {
  cases.forEach(([name, f, inputs], i) => {
    test(name, () => gradcheck(f, inputs, 100 + i));
  });

  test("the check fails for a wrong gradient", () => {
    // a custom 'op' whose value is x^2 but whose autograd graph says 3x: detach breaks it
    const wrong = (a: Tensor) => a.mul(a.detach()).add(a.detach().mul(a.detach()).mul(0));
    assert.throws(() => gradcheck(wrong, [{ shape: [3] }]), /finite difference/);
  });
});
