/**
 * The config keys the ablation study's arms set (SCIENCE.md, issue 22): each is checked to
 * do what it says, by a test that fails if the key were ignored.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig, manualSeed, ntXentLoss, rand, randn, tensor, type Tensor } from "../../src/index.js";
import { buildAugment, buildModel } from "../../src/recipe/recipe.js";
import { stepSettings } from "../../src/recipe/pretraining.js";
import { maxAbsDiff } from "../helpers.js";

const numbers = (t: Tensor) => Array.from(t.dataAsNumbers());

/** Views of `x` under the config `set`, from seed 7. */
function views(set: string[], x: Tensor): Tensor {
  manualSeed(7);
  return buildAugment(loadConfig({ set: ["augment.preset=cifar", ...set] })).view(x);
}

/** Per-view statistics of the colour: mean and SD over pixels of each channel, (N, 3) each. */
function colourStats(v: Tensor): { mean: number[]; sd: number[] } {
  const flat = v.flatten(2); // (N, 3, S*S)
  const mean = flat.mean([2], true); // (N, 3, 1)
  return { mean: numbers(mean), sd: numbers(flat.sub(mean).square().mean([2]).sqrt()) };
}

/** A view is grey when its three channels are equal everywhere. */
function greyViews(v: Tensor): boolean[] {
  const n = v.size(0);
  const r = v.narrow(1, 0, 1);
  const spread = v.sub(r).abs().flatten(1).amax([1]); // (N)
  return numbers(spread)
    .slice(0, n)
    .map((d) => d < 1e-6);
}

describe("augment switches: each transformation off on its own (Figure 5)", () => {
  // colour images whose left and right halves differ, so flips and crops show
  manualSeed(1);
  const x = rand([200, 3, 16, 16]).mul(tensor([0.9, 0.6, 0.3]).reshape([1, 3, 1, 1])); // (200, 3, 16, 16)

  test("crop, flip, colour and grey all off: every view is the image itself", () => {
    const v = views(["augment.crop=false", "augment.flip=false", "augment.color=false", "augment.grayscale=false"], x);
    assert.ok(maxAbsDiff(numbers(v), numbers(x)) < 1e-6);
  });

  test("no crop: views are the whole image, flipped in about half of them", () => {
    const v = views(["augment.crop=false", "augment.color=false", "augment.grayscale=false"], x);
    const flipped = x.flip([3]);
    let same = 0;
    let mirrored = 0;
    for (let i = 0; i < 200; i++) {
      const vi = numbers(v.narrow(0, i, 1));
      if (maxAbsDiff(vi, numbers(x.narrow(0, i, 1))) < 1e-6) same++;
      else if (maxAbsDiff(vi, numbers(flipped.narrow(0, i, 1))) < 1e-6) mirrored++;
    }
    assert.equal(same + mirrored, 200, "each view is the image or its mirror");
    assert.ok(mirrored > 70 && mirrored < 130, `${mirrored} of 200 flipped (p 0.5)`);
  });

  test("no flip: with the crop off, no view is mirrored", () => {
    const v = views(["augment.crop=false", "augment.flip=false", "augment.grayscale=false"], x);
    const grey = greyViews(v);
    assert.ok(!grey.some((g) => g));
    // colour jitter changes values but never the left-right order of a smooth ramp: check one
    // channel's mean per column against the input's order on a ramp image
    const ramp = tensor(Array.from({ length: 16 }, (_, i) => i / 15))
      .reshape([1, 1, 1, 16])
      .expand([50, 3, 16, 16])
      .contiguous(); // (50, 3, 16, 16), brighter to the right
    const rv = views(["augment.crop=false", "augment.flip=false", "augment.color=false", "augment.grayscale=false"], ramp);
    const rightBrighter = numbers(
      rv
        .narrow(3, 15, 1)
        .sub(rv.narrow(3, 0, 1))
        .flatten(1)
        .amin([1]),
    );
    assert.ok(
      rightBrighter.every((d) => d > 0.5),
      "no view mirrored",
    );
  });

  test("no colour: the views have the same per-pixel colour statistics as crop-only views (and colour on does not)", () => {
    const cropOnly = colourStats(views(["augment.color=false", "augment.grayscale=false"], x));
    const noColour = colourStats(views(["augment.color=false"], x));
    const withColour = colourStats(views([], x));
    // crop-only and no-colour differ only where grey was drawn: there R = G = B; elsewhere equal
    const greyOff = colourStats(views(["augment.color=false", "augment.grayscale=false"], x));
    assert.deepEqual(cropOnly, greyOff);
    let equal = 0;
    for (let i = 0; i < cropOnly.mean.length; i++) if (Math.abs(cropOnly.mean[i]! - noColour.mean[i]!) < 1e-6) equal++;
    assert.ok(equal / cropOnly.mean.length > 0.7, `${equal} of ${cropOnly.mean.length} channel means unchanged (grey p 0.2)`);
    // jitter at s 0.5 moves the channel SDs: the mean absolute change is far above float noise
    const change = withColour.sd.reduce((s, v, i) => s + Math.abs(v - cropOnly.sd[i]!), 0) / withColour.sd.length;
    assert.ok(change > 0.005, `colour on changed the per-view channel SD by ${change}`);
  });

  test("no grey: no view has three equal channels; with it about a fifth do", () => {
    const on = greyViews(views(["augment.color=false"], x)).filter(Boolean).length;
    const off = greyViews(views(["augment.color=false", "augment.grayscale=false"], x)).filter(Boolean).length;
    assert.equal(off, 0);
    assert.ok(on > 20 && on < 65, `${on} of 200 grey (p 0.2)`);
  });

  test("no blur: the imagenet preset's blur (p 0.5) is switched off", () => {
    const on = loadConfig({ set: ["augment.preset=imagenet"] });
    const off = loadConfig({ set: ["augment.preset=imagenet", "augment.blur=false"] });
    assert.equal(buildAugment(on).options.blurProbability, 0.5);
    assert.equal(buildAugment(off).options.blurProbability, 0);
    const onViews = views(["augment.preset=imagenet"], x);
    const offViews = views(["augment.preset=imagenet", "augment.blur=false"], x);
    assert.ok(maxAbsDiff(numbers(onViews), numbers(offViews)) > 1e-3, "blur changed some views");
  });

  test("colour strength s scales the jitter factors' range", () => {
    const spread = (s: number) => {
      manualSeed(3);
      const p = buildAugment(loadConfig({ set: ["augment.preset=cifar", `augment.jitterStrength=${s}`] })).sample(4000, 16, 16, 3);
      const b = numbers(p.jitter.factors.brightness!);
      return Math.max(...b) - Math.min(...b);
    };
    assert.ok(Math.abs(spread(0.25) - 0.4) < 0.02 && Math.abs(spread(1) - 1.6) < 0.02, `brightness range 2 x 0.8 s: ${spread(0.25)}, ${spread(1)}`);
  });
});

describe("head.layers: none, linear, nonlinear (Figure 8)", () => {
  const build = (layers: number) => buildModel(loadConfig({ set: [`head.layers=${layers}`, "model.width=4"] }), 3);

  test("0 is no head: z is h", () => {
    const m = build(0);
    assert.deepEqual(m.head.namedParameters(), []);
    m.eval();
    const { h, z } = m.call(randn([4, 3, 16, 16]));
    assert.deepEqual(z.shape, h.shape);
    assert.equal(maxAbsDiff(numbers(z), numbers(h)), 0);
  });

  test("1 is linear: one Linear + BN to outDim, no hidden layer, no ReLU (z takes negative values)", () => {
    const m = build(1);
    const shapes = m.head.namedParameters().map(([name, p]) => `${name}:${p.shape.join("x")}`);
    assert.deepEqual(shapes, ["0.linear.weight:128x32", "0.bn.weight:128"]);
    const { z } = m.call(randn([8, 3, 16, 16]));
    assert.ok(z.min().item() < 0);
  });

  test("2 is nonlinear: a hidden Linear-BN-ReLU of width h, then Linear-BN", () => {
    const names = build(2)
      .head.namedParameters()
      .map(([name, p]) => `${name}:${p.shape.join("x")}`);
    assert.deepEqual(names, ["0.linear.weight:32x32", "0.bn.weight:32", "0.bn.bias:32", "1.linear.weight:128x32", "1.bn.weight:128"]);
  });
});

describe("loss.normalize: NT-Xent with and without l2 normalisation (Table 5)", () => {
  /** Plain-JS NT-Xent on rows of z, cosine or dot similarity. */
  function reference(z: number[][], temperature: number, cosine: boolean): number {
    const rows = z.map((r) => {
      const norm = cosine ? Math.hypot(...r) : 1;
      return r.map((v) => v / norm);
    });
    const n = rows.length;
    const m = n / 2;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const logits = rows.map((r, j) => (j === i ? -Infinity : r.reduce((s, v, k) => s + v * rows[i]![k]!, 0) / temperature));
      const top = Math.max(...logits);
      const lse = top + Math.log(logits.reduce((s, l) => s + Math.exp(l - top), 0));
      total += lse - logits[(i + m) % n]!;
    }
    return total / n;
  }

  test("the loss equals the plain-JS reference either way, and the two differ", () => {
    manualSeed(5);
    const z = randn([8, 5]).mul(3);
    const rows = Array.from({ length: 8 }, (_, i) => numbers(z.narrow(0, i, 1)));
    const cos = ntXentLoss(z, { temperature: 0.5 }).loss.item();
    const dot = ntXentLoss(z, { temperature: 10, normalize: false }).loss.item();
    assert.ok(Math.abs(cos - reference(rows, 0.5, true)) < 1e-5);
    assert.ok(Math.abs(dot - reference(rows, 10, false)) < 1e-5);
    assert.ok(Math.abs(ntXentLoss(z, { temperature: 10 }).loss.item() - dot) > 1e-3);
  });

  test("the step reads it from the config", () => {
    assert.equal(stepSettings(loadConfig()).normalize, true);
    assert.equal(stepSettings(loadConfig({ set: ["loss.normalize=false"] })).normalize, false);
  });
});
