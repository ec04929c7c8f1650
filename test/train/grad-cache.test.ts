/**
 * GradCache (src/train/grad-cache.ts) against the plain step:
 *   - one chunk holding the whole batch, BN in train mode: loss, every parameter's gradient and
 *     BN's running statistics equal the plain step's within 1e-5;
 *   - small chunks with BN in inference mode (so a chunk's statistics cannot differ from the
 *     batch's): the gradients still equal the plain step's — the caching itself is exact;
 *   - small chunks in train mode: BN's running statistics are updated once per chunk (as k
 *     plain forwards over the chunks would), not twice;
 *   - through pretraining: train.chunkSize trains (pretrain.slow.test.ts-style run, loss finite).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SimCLRModel, manualSeed, noGrad, rand, tidy, type Tensor } from "../../src/index.js";
import { gradCacheForward } from "../../src/train/grad-cache.js";
import { contrastiveLoss, embed } from "../../src/train/contrastive.js";
import { quiet } from "../helpers.js";

const options = { temperature: 0.5, precision: "fp32" as const };

function model(): SimCLRModel {
  manualSeed(3);
  return new SimCLRModel({ arch: "resnet18", width: 4, cifarStem: true, inChannels: 3, headLayers: 2, outDim: 16, zeroInitResidual: false });
}

/** Gradients and buffers after one step (plain or GradCache), by name. */
function step(m: SimCLRModel, views: Tensor, chunkSize: number | null): { loss: number; grads: Map<string, number[]>; buffers: Map<string, number[]> } {
  for (const p of m.parameters()) p.grad = null;
  const loss = tidy(() => {
    const b = views.size(0) / 2;
    if (chunkSize === null) {
      const { z } = embed(m, views, options);
      const out = contrastiveLoss(z, b, options);
      out.loss.backward();
      return out.loss.item();
    }
    const out = gradCacheForward(m, views, b, { ...options, chunkSize });
    out.backward();
    return out.loss.item();
  });
  const grads = new Map(m.namedParameters().map(([k, p]) => [k, Array.from(p.grad?.dataAsNumbers() ?? [], Number)]));
  const buffers = new Map(m.namedBuffers().map(([k, t]) => [k, Array.from(t.dataAsNumbers(), Number)]));
  return { loss, grads, buffers };
}

function maxDiff(a: Map<string, number[]>, b: Map<string, number[]>): number {
  let d = 0;
  for (const [k, x] of a) {
    const y = b.get(k) as number[];
    assert.equal(y.length, x.length, k);
    x.forEach((v, i) => (d = Math.max(d, Math.abs(v - (y[i] as number)))));
  }
  return d;
}

describe("GradCache", () => {
  const views = noGrad(() => rand([24, 3, 12, 12])); // 12 images, 2 views each

  test("one chunk of the whole batch, BN in train mode: the plain step within 1e-5 (loss, gradients, running statistics)", () => {
    const plain = step(model().train(), views, null);
    const cached = step(model().train(), views, 24);
    assert.ok(Math.abs(plain.loss - cached.loss) < 1e-5, `${plain.loss} vs ${cached.loss}`);
    assert.ok(maxDiff(plain.grads, cached.grads) < 1e-5, `gradients differ by ${maxDiff(plain.grads, cached.grads)}`);
    assert.ok(maxDiff(plain.buffers, cached.buffers) < 1e-6, "BN running statistics");
  });

  test("chunks of 5 views (uneven), BN in inference mode: the plain step's gradients within 1e-5", () => {
    const plain = step(model().eval(), views, null);
    const cached = step(model().eval(), views, 5);
    assert.ok(Math.abs(plain.loss - cached.loss) < 1e-5);
    const d = maxDiff(plain.grads, cached.grads);
    assert.ok(d < 1e-5, `gradients differ by ${d}`);
    assert.ok(
      [...plain.grads.values()].some((g) => g.some((v) => v !== 0)),
      "the gradients are not all zero",
    );
  });

  test("chunks of 8 views in train mode: BN's running statistics move once per chunk, as 3 plain forwards over the chunks do", () => {
    const m = model().train();
    step(m, views, 8);
    const reference = model().train();
    noGrad(() => {
      for (let start = 0; start < 24; start += 8) tidy(() => void reference.forward(views.narrow(0, start, 8)));
    });
    const expected = new Map(reference.namedBuffers().map(([k, t]) => [k, Array.from(t.dataAsNumbers(), Number)]));
    const got = new Map(m.namedBuffers().map(([k, t]) => [k, Array.from(t.dataAsNumbers(), Number)]));
    assert.ok(maxDiff(expected, got) < 1e-6, `running statistics differ by ${maxDiff(expected, got)}`);
  });
});

test("pretraining with train.chunkSize: 4 chunks of 32 views per step, finite losses, a checkpoint", async () => {
  const { mkdtempSync, readFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { loadConfig, pretrain } = await import("../../src/index.js");
  const { syntheticSet, writeSyntheticIdx } = await import("../synthetic.js");
  const dir = mkdtempSync(join(tmpdir(), "simclr-gradcache-"));
  const data = writeSyntheticIdx(join(dir, "data"), 256);
  const config = loadConfig({ set: syntheticSet(data, ["train.epochs=1", "train.chunkSize=32", "monitor.knnEvery=0"]) });
  const silent = quiet();
  const result = await pretrain(join(dir, "run"), config, { progress: silent, handleSignals: false });
  result.model.dispose();
  assert.equal(result.status, "finished");
  const losses = readFileSync(join(dir, "run", "metrics.jsonl"), "utf-8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { loss?: number })
    .filter((l) => l.loss !== undefined);
  assert.equal(losses.length, 4);
  assert.ok(losses.every((l) => Number.isFinite(l.loss)));
});
