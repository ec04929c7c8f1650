import assert from "node:assert/strict";
import { test } from "node:test";
import { manualSeed, ones, randn, tensor, zeros } from "../../src/index.js";
import { effectiveRank, RankMonitor } from "../../src/eval/rank-monitor.js";

test("effectiveRank is exp(entropy) of the normalised singular values (RankMe)", () => {
  const eye = tensor([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]).reshape([4, 4]);
  assert.ok(Math.abs(effectiveRank(eye) - 4) < 1e-5, "equal singular values: the dimension");
  // singular values 3 and 1: p = 0.75, 0.25, exp(-(0.75 ln 0.75 + 0.25 ln 0.25)) = 1.7548
  const p = [0.75, 0.25];
  const expected = Math.exp(-p.reduce((s, v) => s + v * Math.log(v), 0));
  assert.ok(Math.abs(effectiveRank(tensor([3, 0, 0, -1]).reshape([2, 2])) - expected) < 1e-5);
  assert.ok(effectiveRank(ones([50, 8])) < 1.001, "every row the same direction: rank 1");
  assert.equal(effectiveRank(zeros([5, 3])), 1);
  assert.throws(() => effectiveRank(ones([3])), /expected \(N, D\)/);
});

test("RankMonitor tells a collapsed h from a healthy one, from the last batches of an epoch", () => {
  manualSeed(4);
  const healthy = new RankMonitor(256);
  for (let i = 0; i < 6; i++) healthy.onBatch({ h: randn([64, 16]), labels: null });
  const rank = healthy.onEpochEnd({ epoch: 0, model: null as never })!.rankme_h!;
  assert.ok(rank > 13 && rank <= 16, `isotropic h: RankMe ${rank} near 16`);
  const collapsed = new RankMonitor(256);
  const direction = randn([1, 16]);
  for (let i = 0; i < 6; i++)
    collapsed.onBatch({
      h: randn([64, 1])
        .matmul(direction)
        .add(randn([64, 16]).mul(1e-3)),
      labels: null,
    });
  const low = collapsed.onEpochEnd({ epoch: 0, model: null as never })!.rankme_h!;
  assert.ok(low < 1.5, `collapsed h: RankMe ${low} near 1`);
  assert.equal(collapsed.onEpochEnd({ epoch: 1, model: null as never }), null, "each epoch starts afresh");
  assert.throws(() => new RankMonitor(1), /samples must be an integer >= 2/);
});
