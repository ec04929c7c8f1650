import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { manualSeed, randint, randn, tensor, tidy, noGrad, resnet } from "../../src/index.js";
import { extractFeatures, projectFeatures } from "../../src/eval/features.js";
import { knnClassify, knnClassifyAt } from "../../src/eval/knn.js";
import { ProjectionHead } from "../../src/models/projection-head.js";
import { maxAbsDiff } from "../helpers.js";
import { fitLogistic, logisticProbe, type ProbeFitEvent } from "../../src/eval/logistic-probe.js";

describe("linear probe (logistic regression, L-BFGS)", () => {
  test("reaches 100% on a linearly separable set and picks L2 on held-out data", () => {
    tidy(() => {
      manualSeed(0);
      const centres = randn([4, 6]).mul(8); // 4 well-separated classes
      const make = (n: number) => {
        const y = randint(0, 4, [n]);
        return { x: centres.index([y]).add(randn([n, 6])), y };
      };
      const train = make(800);
      const test = make(400);
      const r = logisticProbe(train.x, train.y, test.x, test.y, { numClasses: 4 });
      assert.equal(r.top1, 1);
      assert.equal(r.top5, 1);
      assert.equal(r.validation.length, 7); // the default grid, 1 ... 1e-6
      assert.ok(r.validation.some((v) => v.l2 === r.l2));
    });
  });

  test("beats chance clearly on a noisy linear problem and stays below 100%", () => {
    tidy(() => {
      manualSeed(1);
      const w = randn([10, 3]);
      const make = (n: number) => {
        const x = randn([n, 10]);
        const y = x
          .matmul(w)
          .add(randn([n, 3]).mul(1.5))
          .argmax(1);
        return { x, y };
      };
      const train = make(2000);
      const test = make(1000);
      const r = logisticProbe(train.x, train.y, test.x, test.y, { numClasses: 3 });
      assert.ok(r.top1 > 0.6 && r.top1 < 0.99, `top1 ${r.top1}`);
    });
  });
});

describe("L2 path: warm starts and progress", () => {
  test("a warm-started fit reaches the cold fit's optimum in fewer iterations", () => {
    tidy(() => {
      manualSeed(2);
      const w = randn([20, 5]);
      const x = randn([1500, 20]).to("float64");
      const y = x
        .matmul(w.to("float64"))
        .add(randn([1500, 5]).to("float64").mul(2))
        .argmax(1);
      const near = fitLogistic(x, y, { l2: 1e-2, numClasses: 5 });
      const cold = fitLogistic(x, y, { l2: 1e-3, numClasses: 5 });
      const warm = fitLogistic(x, y, { l2: 1e-3, numClasses: 5, init: near });
      // strictly convex (L2 > 0): one optimum, whatever the start
      assert.ok(Math.abs(warm.loss - cold.loss) < 1e-6 * Math.abs(cold.loss), `loss ${warm.loss} vs ${cold.loss}`);
      assert.ok(warm.weight.sub(cold.weight).abs().max().item() < 1e-3);
      assert.ok(warm.iterations < cold.iterations, `warm ${warm.iterations} vs cold ${cold.iterations} iterations`);
    });
  });

  test("reports every fit, strongest L2 first, then the refit", () => {
    tidy(() => {
      manualSeed(3);
      const x = randn([300, 4]);
      const y = x.narrow(1, 0, 2).argmax(1);
      const events: ProbeFitEvent[] = [];
      const r = logisticProbe(x, y, x, y, { numClasses: 2, l2Grid: [1e-4, 1e-1, 1e-2], onFit: (e) => events.push(e) });
      assert.deepEqual(
        events.map((e) => [e.l2, e.done, e.total]),
        [
          [1e-1, 1, 4],
          [1e-2, 2, 4],
          [1e-4, 3, 4],
          [r.l2, 4, 4],
        ],
      );
      assert.deepEqual(
        r.validation.map((v) => v.l2),
        [1e-1, 1e-2, 1e-4],
      );
      assert.ok(events.slice(0, 3).every((e) => e.heldOutTop1 !== undefined) && events[3]!.heldOutTop1 === undefined);
      assert.throws(() => logisticProbe(x, y, x, y, { numClasses: 2, l2Grid: [] }), /l2Grid is empty/);
    });
  });
});

describe("kNN classifier", () => {
  test("returns the known labels of constructed points", () => {
    tidy(() => {
      // class c lives along direction e_c; queries are noisy copies
      const bank = tensor([
        [1, 0, 0],
        [0.9, 0.1, 0],
        [0, 1, 0],
        [0.1, 0.9, 0],
        [0, 0, 1],
        [0, 0.1, 0.9],
      ]);
      const bankLabels = tensor([0, 0, 1, 1, 2, 2], { dtype: "int64" });
      const queries = tensor([
        [0.8, 0.2, 0.1],
        [0.1, 0.7, 0.2],
        [0.2, 0.1, 0.95],
      ]);
      const labels = tensor([0, 1, 2], { dtype: "int64" });
      const r = knnClassify(bank, bankLabels, queries, labels, { k: 2 });
      assert.deepEqual(r.scores.argmax(1).toArray(), [0, 1, 2]);
      assert.equal(r.top1, 1);
    });
  });

  test("is invariant to the scale of the features (cosine similarity)", () => {
    tidy(() => {
      manualSeed(2);
      const bank = randn([200, 8]);
      const bankLabels = randint(0, 5, [200]);
      const queries = randn([50, 8]);
      const labels = randint(0, 5, [50]);
      const a = knnClassify(bank, bankLabels, queries, labels, { k: 20, numClasses: 5 });
      const b = knnClassify(bank.mul(37), bankLabels, queries.mul(0.01), labels, { k: 20, numClasses: 5 });
      assert.ok(a.scores.sub(b.scores).abs().max().item() / a.scores.abs().max().item() < 1e-5);
      assert.equal(a.top1, b.top1);
    });
  });

  test("weights votes by exp(sim / T): a closer minority can outvote a farther majority", () => {
    tidy(() => {
      const bank = tensor([
        [1, 0],
        [0.6, 0.8],
        [0.6, 0.8],
      ]);
      const bankLabels = tensor([0, 1, 1], { dtype: "int64" });
      const q = tensor([[1, 0]]);
      const y = tensor([0], { dtype: "int64" });
      assert.equal(knnClassify(bank, bankLabels, q, y, { k: 3, temperature: 0.1 }).top1, 1); // e^10 > 2 e^6
      assert.equal(knnClassify(bank, bankLabels, q, y, { k: 3, temperature: 10 }).top1, 0); // nearly equal votes
    });
  });

  test("bad input", () => {
    assert.throws(
      () => knnClassify(randn([3, 2]), tensor([0, 1], { dtype: "int64" }), randn([1, 2]), tensor([0], { dtype: "int64" })),
      /2 labels for 3 training features/,
    );
    assert.throws(() => knnClassify(randn([2, 2]), tensor([0, -1], { dtype: "int64" }), randn([1, 2]), tensor([0], { dtype: "int64" })), /unlabeled/);
  });
});

test("feature extraction leaves the encoder's weights, BN statistics and mode unchanged", () => {
  const encoder = resnet({ depth: 18, width: 4, cifarStem: true, inChannels: 1 });
  encoder.train();
  const before = new Map([...encoder.stateDict()].map(([k, t]) => [k, t.clone()]));
  const h = extractFeatures(encoder, randint(0, 256, [10, 1, 16, 16], { dtype: "uint8" }), { batchSize: 4 });
  assert.deepEqual(h.shape, [10, 32]);
  assert.equal(encoder.training, true);
  noGrad(() => {
    for (const [k, t] of encoder.stateDict()) assert.ok(t.eq(before.get(k)!).all().item() === 1, k);
  });
});

describe("kNN at several k in one pass, and features z", () => {
  test("knnClassifyAt equals knnClassify at each k, in the order asked", () => {
    manualSeed(11);
    const bank = randn([300, 8]);
    const labels = randint(0, 5, [300], { dtype: "int64" });
    const queries = randn([70, 8]);
    const queryLabels = randint(0, 5, [70], { dtype: "int64" });
    const many = knnClassifyAt(bank, labels, queries, queryLabels, { ks: [200, 10, 1], temperature: 0.1, numClasses: 5, batchSize: 32 });
    assert.deepEqual(
      many.map((r) => r.k),
      [200, 10, 1],
    );
    for (const r of many) {
      const one = knnClassify(bank, labels, queries, queryLabels, { k: r.k, temperature: 0.1, numClasses: 5 });
      assert.equal(r.top1, one.top1, `k ${r.k}`);
      assert.equal(r.top5, one.top5, `k ${r.k}`);
      // scores are sums of up to k votes of e^(sim / 0.1), up to e^10 each: float32 agrees to
      // its relative precision, and the batches' similarities may round differently (by CPU)
      const a = Array.from(r.scores.dataAsNumbers());
      const scale = Math.max(...a.map(Math.abs));
      assert.ok(maxAbsDiff(a, Array.from(one.scores.dataAsNumbers())) <= 1e-5 * scale, `k ${r.k} scores`);
    }
    assert.notEqual(many[0]!.top1, many[2]!.top1, "the ks give different answers on this data");
    assert.throws(() => knnClassifyAt(bank, labels, queries, queryLabels, { ks: [] }), /at least one k/);
    assert.throws(() => knnClassifyAt(bank, labels, queries, queryLabels, { ks: [10, 0] }), /k must be an integer >= 1, got 0/);
  });

  test("projectFeatures is the head in inference mode, batch by batch, and restores its mode", () => {
    manualSeed(12);
    const head = new ProjectionHead({ inFeatures: 16, layers: 2, outFeatures: 8 });
    const h = randn([50, 16]);
    head.train();
    tidy(() => head.call(randn([64, 16]))); // moves the BN running statistics off their init
    const z = projectFeatures(head, h, { batchSize: 7 });
    assert.equal(head.training, true);
    head.eval();
    const expected = noGrad(() => head.call(h));
    assert.deepEqual(z.shape, [50, 8]);
    assert.ok(maxAbsDiff(Array.from(z.dataAsNumbers()), Array.from(expected.dataAsNumbers())) < 1e-5);
  });
});
