/**
 * The SimCLR augmentations: statistics of the random draws over many views (against a
 * plain-JS simulation of torchvision's RandomResizedCrop where the law is not uniform),
 * and exact checks of every deterministic transform against plain-JS formulas.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AUGMENT_PRESETS,
  SimCLRAugment,
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  blurTaps,
  colorJitter_,
  full,
  gaussianBlur,
  grayscale,
  hsvToRgb,
  manualSeed,
  rand,
  randomGrayscale,
  resizedCrop,
  rgbToHsv,
  sampleCropBoxes,
  tensor,
  zeros,
  type AugmentParams,
  type AugmentPreset,
  type CropBoxes,
  type JitterOp,
  type JitterParams,
  type Tensor,
} from "../../src/index.js";
import { maxAbsDiff, rng } from "../helpers.js";

function numbers(t: Tensor): number[] {
  return Array.from(t.dataAsNumbers());
}

function bools(t: Tensor): boolean[] {
  return Array.from(t.to("uint8").data() as Uint8Array, (v) => v !== 0);
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function min(xs: number[]): number {
  return xs.reduce((a, b) => Math.min(a, b), Infinity);
}

function max(xs: number[]): number {
  return xs.reduce((a, b) => Math.max(a, b), -Infinity);
}

function variance(xs: number[]): number {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
}

/** The rate of true values is p within 4 standard errors (exactly 0 or 1 where p is). */
function assertRate(values: boolean[], p: number, what: string): void {
  const rate = values.filter(Boolean).length / values.length;
  const tolerance = 4 * Math.sqrt((p * (1 - p)) / values.length);
  assert.ok(Math.abs(rate - p) <= tolerance, `${what}: rate ${rate.toFixed(4)}, expected ${p} +- ${tolerance.toFixed(4)}`);
}

/** A float32 tensor of uniform values from the JS generator. */
function randomImage(shape: number[], next: () => number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = next();
  return tensor(data, { shape });
}

function boolTensor(values: boolean[]): Tensor {
  return tensor(values);
}

// ---------------------------------------------------------------------------------------
// Random resized crop: torchvision's RandomResizedCrop.get_params in plain JS
// ---------------------------------------------------------------------------------------

interface Box {
  top: number;
  left: number;
  h: number;
  w: number;
}

function referenceCrop(height: number, width: number, next: () => number, scale: [number, number] = [0.08, 1], ratio: [number, number] = [3 / 4, 4 / 3]): Box {
  const area = height * width;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * next());
    const aspect = Math.exp(Math.log(ratio[0]) + (Math.log(ratio[1]) - Math.log(ratio[0])) * next());
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: Math.floor(next() * (height - h + 1)), left: Math.floor(next() * (width - w + 1)), h, w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), h, w };
}

function boxesOf(c: CropBoxes): Box[] {
  const top = numbers(c.top);
  const left = numbers(c.left);
  const h = numbers(c.height);
  const w = numbers(c.width);
  return top.map((t, i) => ({ top: t, left: left[i]!, h: h[i]!, w: w[i]! }));
}

/** Bin frequencies of values over [lo, hi] (values just outside go to the edge bins). */
function histogram(values: number[], lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins)));
    counts[b]! += 1;
  }
  return counts.map((c) => c / values.length);
}

/** Bin frequencies agree with the reference's within 4 standard errors of the difference. */
function assertSameHistogram(got: number[], expected: number[], n: number, m: number, what: string): void {
  got.forEach((p, i) => {
    const q = expected[i]!;
    const se = Math.sqrt(Math.max(q * (1 - q), 1 / m) * (1 / n + 1 / m));
    assert.ok(p > 0, `${what}: bin ${i} is empty`);
    assert.ok(Math.abs(p - q) <= 4 * se, `${what}: bin ${i} has ${p.toFixed(4)}, reference ${q.toFixed(4)} +- ${(4 * se).toFixed(4)}`);
  });
}

function assertSameMean(got: number[], expected: number[], what: string): void {
  const se = Math.sqrt(variance(got) / got.length + variance(expected) / expected.length);
  const a = mean(got);
  const b = mean(expected);
  assert.ok(Math.abs(a - b) <= 4 * se, `${what}: mean ${a.toFixed(4)}, reference ${b.toFixed(4)} +- ${(4 * se).toFixed(4)}`);
}

describe("random resized crop boxes", () => {
  const N = 20000;
  const M = 200000;

  for (const [height, width] of [
    [28, 28],
    [24, 40],
    [64, 48],
  ] as const) {
    test(`${height}x${width}: boxes inside the image, area in [0.08, 1], aspect in [3/4, 4/3], spread as torchvision's`, () => {
      manualSeed(11);
      const boxes = boxesOf(new SimCLRAugment({ preset: "cifar" }).sample(N, height, width, 3).crop);
      const area = height * width;
      const next = rng(height * 1000 + width);
      const ref = Array.from({ length: M }, () => referenceCrop(height, width, next));

      for (const b of boxes) {
        for (const v of [b.top, b.left, b.h, b.w]) assert.ok(Number.isInteger(v), `box values are integers: ${JSON.stringify(b)}`);
        assert.ok(b.top >= 0 && b.left >= 0 && b.h >= 1 && b.w >= 1, `box ${JSON.stringify(b)}`);
        assert.ok(b.top + b.h <= height && b.left + b.w <= width, `box ${JSON.stringify(b)} leaves the ${height}x${width} image`);
        // h and w are rounded: some area in [0.08, 1] and aspect in [3/4, 4/3] must round to them
        assert.ok((b.w + 0.5) * (b.h + 0.5) >= 0.08 * area && (b.w - 0.5) * (b.h - 0.5) <= area, `area of ${JSON.stringify(b)}`);
        assert.ok((b.w + 0.5) / (b.h - 0.5) >= 3 / 4 && (b.w - 0.5) / (b.h + 0.5) <= 4 / 3, `aspect of ${JSON.stringify(b)}`);
      }

      const frac = boxes.map((b) => (b.h * b.w) / area);
      const refFrac = ref.map((b) => (b.h * b.w) / area);
      // the largest area is 1 for a square image, less where the aspect must be clamped (24x40: 32 x 24)
      const largest = max(refFrac);
      assert.ok(min(frac) < 0.1 && max(frac) > largest - 0.03, `area fractions span [0.08, ${largest}]: ${min(frac)}..${max(frac)}`);
      assertSameMean(frac, refFrac, "area fraction");
      assertSameHistogram(histogram(frac, 0.08, largest, 10), histogram(refFrac, 0.08, largest, 10), N, M, "area fraction");

      const logAspect = boxes.map((b) => Math.log(b.w / b.h));
      const refLogAspect = ref.map((b) => Math.log(b.w / b.h));
      const [lo, hi] = [Math.log(3 / 4), Math.log(4 / 3)];
      assertSameMean(logAspect, refLogAspect, "log aspect");
      assertSameHistogram(histogram(logAspect, lo, hi, 8), histogram(refLogAspect, lo, hi, 8), N, M, "log aspect");

      // top is uniform over 0..H-h (and left over 0..W-w): (top + 0.5) / (H - h + 1) has mean 1/2
      const posTop = boxes.map((b) => (b.top + 0.5) / (height - b.h + 1));
      const posLeft = boxes.map((b) => (b.left + 0.5) / (width - b.w + 1));
      for (const [name, pos] of [
        ["top", posTop],
        ["left", posLeft],
      ] as const) {
        const se = Math.sqrt(1 / 12 / N);
        assert.ok(Math.abs(mean(pos) - 0.5) <= 4 * se, `${name} position mean ${mean(pos)}`);
      }
      // the last position is reachable about as often as 1 / (positions)
      const atBottom = boxes.filter((b) => b.top === height - b.h).length;
      const expectedBottom = boxes.reduce((a, b) => a + 1 / (height - b.h + 1), 0);
      assert.ok(Math.abs(atBottom - expectedBottom) <= 4 * Math.sqrt(expectedBottom), `top = H - h ${atBottom} times, expected ${expectedBottom.toFixed(0)}`);
    });
  }

  test("the fallback is torchvision's centered crop with the aspect clamped into the range", () => {
    // No 10 attempts can fit an 8-pixel side: every box is the fallback.
    const wide = boxesOf(sampleCropBoxes(50, 8, 200, { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }));
    for (const b of wide) assert.deepEqual(b, { top: 0, left: 94, h: 8, w: 11 }); // w = round(8 * 4/3)
    const tall = boxesOf(sampleCropBoxes(50, 200, 8, { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }));
    for (const b of tall) assert.deepEqual(b, { top: 94, left: 0, h: 11, w: 8 }); // h = round(8 / (3/4))
    // The whole image at aspect 1 never fits exactly for scale 1 and ratio (1.5, 2): fallback
    // clamps the aspect to 1.5.
    const square = boxesOf(sampleCropBoxes(20, 30, 30, { scale: [1, 1], ratio: [1.5, 2] }));
    for (const b of square) assert.deepEqual(b, { top: 5, left: 0, h: 20, w: 30 });
  });

  test("scale [1, 1] and ratio [1, 1] give the whole image", () => {
    const boxes = boxesOf(sampleCropBoxes(30, 17, 17, { scale: [1, 1], ratio: [1, 1] }));
    for (const b of boxes) assert.deepEqual(b, { top: 0, left: 0, h: 17, w: 17 });
  });
});

// ---------------------------------------------------------------------------------------
// Rates and jitter parameters
// ---------------------------------------------------------------------------------------

describe("per-view random draws", () => {
  const N = 20000;

  test("flip ~0.5, jitter ~0.8, grayscale ~0.2 (cifar, 3 channels) and 0 (1 channel), no blur on cifar", () => {
    manualSeed(1);
    const aug = new SimCLRAugment({ preset: "cifar" });
    const p = aug.sample(N, 32, 32, 3);
    assertRate(bools(p.flip), 0.5, "flip");
    assertRate(bools(p.jitter.apply), 0.8, "jitter");
    assertRate(bools(p.grayscale), 0.2, "grayscale");
    assertRate(bools(p.blur), 0, "blur (cifar)");
    const gray = aug.sample(N, 32, 32, 1);
    assertRate(bools(gray.grayscale), 0, "grayscale of 1-channel input");
    assertRate(bools(gray.flip), 0.5, "flip (1 channel)");
    // the four draws are independent: flip and jitter together ~0.4
    const jitter = bools(p.jitter.apply);
    const both = bools(p.flip).map((f, i) => f && jitter[i]!);
    assertRate(both, 0.4, "flip and jitter");
  });

  test("imagenet: blur ~0.5 with sigma uniform in [0.1, 2]", () => {
    manualSeed(2);
    const p = new SimCLRAugment({ preset: "imagenet" }).sample(N, 64, 64, 3);
    assertRate(bools(p.blur), 0.5, "blur");
    assertRate(bools(p.grayscale), 0.2, "grayscale");
    const sigma = numbers(p.blurSigma);
    assert.ok(min(sigma) >= 0.1 && max(sigma) <= 2, "sigma range");
    assert.ok(min(sigma) < 0.11 && max(sigma) > 1.99, "sigma spread");
    assert.ok(Math.abs(mean(sigma) - 1.05) <= 4 * (1.9 / Math.sqrt(12 * N)), `sigma mean ${mean(sigma)}`);
  });

  test("custom probabilities are honoured", () => {
    manualSeed(3);
    const p = new SimCLRAugment({ preset: "imagenet", flipProbability: 0.1, jitterProbability: 1, grayscaleProbability: 0.5, blurProbability: 0 }).sample(
      N,
      32,
      32,
      3,
    );
    assertRate(bools(p.flip), 0.1, "flip");
    assertRate(bools(p.jitter.apply), 1, "jitter");
    assertRate(bools(p.grayscale), 0.5, "grayscale");
    assertRate(bools(p.blur), 0, "blur");
  });

  const factorCases: [AugmentPreset, number, number, JitterOp[]][] = [
    ["imagenet", 1, 3, ["brightness", "contrast", "saturation", "hue"]],
    ["cifar", 0.5, 3, ["brightness", "contrast", "saturation", "hue"]],
    ["cifar", 0.5, 1, ["brightness", "contrast"]],
    ["grayscale", 0.5, 1, ["brightness", "contrast"]],
    ["grayscale", 0.5, 3, ["brightness", "contrast"]],
  ];
  for (const [preset, s, channels, ops] of factorCases) {
    test(`${preset} on ${channels} channel(s): factors in [1 - 0.8s, 1 + 0.8s], hue in [-0.2s, 0.2s], ops ${ops.join(", ")}`, () => {
      manualSeed(4);
      const aug = new SimCLRAugment({ preset });
      assert.equal(aug.options.jitterStrength, s);
      assert.deepEqual(aug.jitterOps(channels), ops);
      const p = aug.sample(N, 32, 32, channels);
      assert.deepEqual(p.jitter.ops, ops);
      for (const op of ["brightness", "contrast", "saturation", "hue"] as const) {
        const f = p.jitter.factors[op];
        if (!ops.includes(op)) {
          assert.equal(f, undefined, `${op} has no factors`);
          continue;
        }
        assert.ok(f);
        const values = numbers(f);
        assert.equal(values.length, N);
        const [lo, hi] = op === "hue" ? [-0.2 * s, 0.2 * s] : [1 - 0.8 * s, 1 + 0.8 * s];
        const eps = 1e-6;
        assert.ok(min(values) >= lo - eps && max(values) <= hi + eps, `${op} in [${lo}, ${hi}]: ${min(values)}..${max(values)}`);
        const span = hi - lo;
        assert.ok(min(values) < lo + 0.01 * span && max(values) > hi - 0.01 * span, `${op} spread`);
        assert.ok(Math.abs(mean(values) - (lo + hi) / 2) <= 4 * (span / Math.sqrt(12 * N)), `${op} mean ${mean(values)}`);
      }
    });
  }

  test("jitter order: a permutation per view, every op first and every order about equally often", () => {
    manualSeed(5);
    const p = new SimCLRAugment({ preset: "imagenet" }).sample(N, 32, 32, 3);
    assert.deepEqual(p.jitter.order.shape, [N, 4]);
    const order = numbers(p.jitter.order);
    const firstCounts = [0, 0, 0, 0];
    const permCounts = new Map<string, number>();
    for (let i = 0; i < N; i++) {
      const row = order.slice(4 * i, 4 * i + 4);
      assert.deepEqual([...row].sort(), [0, 1, 2, 3], `row ${i} is a permutation: ${row}`);
      firstCounts[row[0]!]! += 1;
      permCounts.set(row.join(""), (permCounts.get(row.join("")) ?? 0) + 1);
    }
    const se1 = Math.sqrt((0.25 * 0.75) / N);
    firstCounts.forEach((c, k) => assert.ok(Math.abs(c / N - 0.25) <= 4 * se1, `op ${k} first in ${c} of ${N} views`));
    assert.equal(permCounts.size, 24);
    const q = 1 / 24;
    const se24 = Math.sqrt((q * (1 - q)) / N);
    for (const [perm, c] of permCounts) assert.ok(Math.abs(c / N - q) <= 4 * se24, `order ${perm} in ${c} of ${N} views`);

    const two = new SimCLRAugment({ preset: "grayscale" }).sample(N, 28, 28, 1);
    assert.deepEqual(two.jitter.order.shape, [N, 2]);
    const o2 = numbers(two.jitter.order);
    let brightnessFirst = 0;
    for (let i = 0; i < N; i++) {
      assert.deepEqual([o2[2 * i], o2[2 * i + 1]].sort(), [0, 1]);
      if (o2[2 * i] === 0) brightnessFirst++;
    }
    assert.ok(Math.abs(brightnessFirst / N - 0.5) <= 4 * Math.sqrt(0.25 / N), `brightness first in ${brightnessFirst} of ${N}`);
  });

  test("no jitter ops (all magnitudes 0) gives an empty order", () => {
    const aug = new SimCLRAugment({ preset: "imagenet", brightness: 0, contrast: 0, saturation: 0, hue: 0 });
    const p = aug.sample(5, 16, 16, 3);
    assert.deepEqual(p.jitter.ops, []);
    assert.deepEqual(p.jitter.order.shape, [5, 0]);
    const x = rand([5, 3, 16, 16]);
    assert.deepEqual(aug.apply(x, p).shape, [5, 3, 16, 16]);
  });
});

// ---------------------------------------------------------------------------------------
// apply() and view()
// ---------------------------------------------------------------------------------------

/** Parameters that leave every view alone (whole-image crop, nothing applied). */
function identityParams(aug: SimCLRAugment, n: number, h: number, w: number, c: number): AugmentParams {
  const p = aug.sample(n, h, w, c);
  const no = boolTensor(new Array<boolean>(n).fill(false));
  return {
    crop: { top: zeros([n]), left: zeros([n]), height: full([n], h), width: full([n], w) },
    flip: no,
    jitter: { ...p.jitter, apply: no },
    grayscale: no,
    blurSigma: p.blurSigma,
    blur: no,
  };
}

describe("SimCLRAugment.apply", () => {
  for (const preset of ["imagenet", "cifar", "grayscale"] as const) {
    for (const size of [null, 24]) {
      for (const kind of ["uint8", "float32"] as const) {
        const channels = preset === "grayscale" ? 1 : 3;
        test(`${preset}, ${kind} input, size ${size}: float32 (N, ${channels}, S, S) in [0, 1]`, () => {
          manualSeed(6);
          const aug = new SimCLRAugment({ preset, size });
          const x = kind === "uint8" ? rand([8, channels, 32, 32]).mul(255).round().to("uint8") : rand([8, channels, 32, 32]);
          const y = aug.view(x);
          const s = size ?? 32;
          assert.deepEqual(y.shape, [8, channels, s, s]);
          assert.equal(y.dtype, "float32");
          const v = numbers(y);
          assert.ok(
            v.every((a) => a >= 0 && a <= 1),
            `values in [0, 1]: ${min(v)}..${max(v)}`,
          );
          assert.ok(variance(v) > 1e-4, "not a constant image");
        });
      }
    }
  }

  test("grayscale preset on Fashion-MNIST-shaped input (N, 1, 28, 28)", () => {
    manualSeed(7);
    const x = rand([16, 1, 28, 28]).mul(255).round().to("uint8");
    const aug = new SimCLRAugment({ preset: "grayscale" });
    const y = aug.view(x);
    assert.deepEqual(y.shape, [16, 1, 28, 28]);
    assert.equal(y.dtype, "float32");
    assert.ok(numbers(y).every((a) => a >= 0 && a <= 1));
    assert.deepEqual(new SimCLRAugment({ preset: "grayscale", size: 32 }).view(x).shape, [16, 1, 32, 32]);
  });

  test("an input that is not (N, C, H, W) images is an ArgumentError naming the shape", () => {
    const aug = new SimCLRAugment({ preset: "grayscale" });
    assert.throws(() => aug.view(rand([1, 28, 28])), /SimCLRAugment\.view expects images \(N, C, H, W\) with C 1 or 3 and H, W >= 1, got shape \[1, 28, 28\]/);
    assert.throws(() => aug.view(rand([2, 2, 8, 8])), /got shape \[2, 2, 8, 8\]/);
    assert.throws(() => aug.view(rand([2, 1, 0, 0])), /got shape \[2, 1, 0, 0\]/);
  });

  test("identity parameters return the input scaled to [0, 1] (uint8 / 255)", () => {
    const next = rng(8);
    for (const preset of ["imagenet", "cifar"] as const) {
      const aug = new SimCLRAugment({ preset });
      const raw = new Uint8Array(4 * 3 * 20 * 20).map(() => Math.floor(next() * 256));
      const x = tensor(raw, { shape: [4, 3, 20, 20] });
      const y = aug.apply(x, identityParams(aug, 4, 20, 20, 3));
      assert.ok(
        maxAbsDiff(
          y.dataAsNumbers(),
          Array.from(raw, (v) => v / 255),
        ) < 1e-5,
        preset,
      );
    }
  });

  test("views drawn to grayscale have three equal channels equal to the luma", () => {
    const aug = new SimCLRAugment({ preset: "cifar" });
    const next = rng(9);
    const x = randomImage([3, 3, 10, 10], next);
    const params = identityParams(aug, 3, 10, 10, 3);
    params.grayscale = boolTensor([true, false, true]);
    const y = aug.apply(x, params);
    const xs = numbers(x);
    const ys = numbers(y);
    for (let n = 0; n < 3; n++) {
      for (let i = 0; i < 100; i++) {
        const [r, g, b] = [0, 1, 2].map((c) => xs[n * 300 + c * 100 + i]!) as [number, number, number];
        for (let c = 0; c < 3; c++) {
          const expected = n === 1 ? xs[n * 300 + c * 100 + i]! : 0.299 * r + 0.587 * g + 0.114 * b;
          assert.ok(Math.abs(ys[n * 300 + c * 100 + i]! - expected) < 1e-5, `view ${n} channel ${c} pixel ${i}`);
        }
      }
    }
  });

  test("manualSeed(s) makes view() repeatable; different seeds differ", () => {
    const x = rand([6, 3, 32, 32]);
    for (const preset of ["imagenet", "cifar", "grayscale"] as const) {
      const aug = new SimCLRAugment({ preset });
      const input = preset === "grayscale" ? x.narrow(1, 0, 1) : x;
      manualSeed(123);
      const a = numbers(aug.view(input));
      manualSeed(123);
      const b = numbers(aug.view(input));
      manualSeed(124);
      const c = numbers(aug.view(input));
      assert.deepEqual(a, b, `${preset}: same seed, same views`);
      assert.ok(maxAbsDiff(a, c) > 1e-3, `${preset}: another seed, other views`);
    }
  });

  test("bad options throw precise errors", () => {
    assert.throws(
      () => new SimCLRAugment({ preset: "mnist" as AugmentPreset }),
      /^ArgumentError: augment: unknown preset 'mnist' \(imagenet, cifar, grayscale\)$/,
    );
    assert.throws(() => new SimCLRAugment({ cropScale: [0.5, 1.5] }), /augment: cropScale must be \[lo, hi\] with .* <= lo <= hi <= 1, got \[0\.5, 1\.5\]/);
    assert.throws(() => new SimCLRAugment({ cropScale: [0, 1] }), /augment: cropScale must be \[lo, hi\] .*got \[0, 1\]/);
    assert.throws(() => new SimCLRAugment({ cropScale: [0.9, 0.5] }), /augment: cropScale must be \[lo, hi\] .*got \[0\.9, 0\.5\]/);
    assert.throws(() => new SimCLRAugment({ cropRatio: [4 / 3, 3 / 4] }), /augment: cropRatio must be \[lo, hi\]/);
    assert.throws(() => new SimCLRAugment({ flipProbability: 1.5 }), /augment: flipProbability must be in \[0, 1\], got 1\.5/);
    assert.throws(() => new SimCLRAugment({ jitterProbability: -0.1 }), /augment: jitterProbability must be in \[0, 1\], got -0\.1/);
    assert.throws(() => new SimCLRAugment({ grayscaleProbability: 2 }), /augment: grayscaleProbability must be in \[0, 1\], got 2/);
    assert.throws(() => new SimCLRAugment({ blurProbability: Number.NaN }), /augment: blurProbability must be in \[0, 1\], got NaN/);
    assert.throws(() => new SimCLRAugment({ size: 0 }), /augment: size must be a positive integer or null, got 0/);
    assert.throws(() => new SimCLRAugment({ size: 12.5 }), /augment: size must be a positive integer or null, got 12\.5/);
    assert.throws(() => new SimCLRAugment({ jitterStrength: -1 }), /augment: jitterStrength must be >= 0, got -1/);
    assert.throws(() => new SimCLRAugment({ hue: 0.6 }), /augment: hue x jitterStrength must be in \[0, 0\.5\], got 0\.6/);
    assert.throws(() => new SimCLRAugment({ blurSigma: [0, 2] }), /augment: blurSigma must be \[lo, hi\]/);
    // the presets are the paper's
    assert.deepEqual(AUGMENT_PRESETS.imagenet.cropScale, [0.08, 1]);
    assert.equal(AUGMENT_PRESETS.cifar.blurProbability, 0);
    assert.equal(AUGMENT_PRESETS.grayscale.grayscaleProbability, 0);
  });
});

// ---------------------------------------------------------------------------------------
// Exact checks of the deterministic transforms
// ---------------------------------------------------------------------------------------

describe("resizedCrop", () => {
  const boxes = (list: Box[]): CropBoxes => ({
    top: tensor(list.map((b) => b.top)),
    left: tensor(list.map((b) => b.left)),
    height: tensor(list.map((b) => b.h)),
    width: tensor(list.map((b) => b.w)),
  });

  test("the whole image without flip is the input; with flip, the mirrored input", () => {
    const next = rng(10);
    const x = randomImage([3, 2, 9, 9], next);
    const whole = boxes([0, 1, 2].map(() => ({ top: 0, left: 0, h: 9, w: 9 })));
    const y = resizedCrop(x, whole, boolTensor([false, false, false]), 9);
    assert.ok(maxAbsDiff(y.dataAsNumbers(), x.dataAsNumbers()) < 1e-5);
    const flipped = resizedCrop(x, whole, boolTensor([true, false, true]), 9);
    const xs = numbers(x);
    const fs = numbers(flipped);
    for (let n = 0; n < 3; n++)
      for (let c = 0; c < 2; c++)
        for (let r = 0; r < 9; r++)
          for (let u = 0; u < 9; u++) {
            const base = ((n * 2 + c) * 9 + r) * 9;
            const source = n === 1 ? xs[base + u]! : xs[base + 8 - u]!;
            assert.ok(Math.abs(fs[base + u]! - source) < 1e-5, `view ${n} (${c}, ${r}, ${u})`);
          }
  });

  test("on a linear ramp, bilinear sampling is exact: value(left + (u + 0.5) w / S - 0.5), clamped at the border", () => {
    // value = a x + b y + c, with x the column and y the row
    const [H, W] = [12, 16];
    const [a, b, c] = [0.05, 0.02, 0.1];
    const ramp = new Float32Array(2 * H * W);
    for (let ch = 0; ch < 2; ch++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) ramp[(ch * H + y) * W + x] = a * x + b * y + c + ch * 0.3;
    const list: Box[] = [
      { top: 0, left: 0, h: 12, w: 8 }, // left half
      { top: 0, left: 0, h: 12, w: 8 },
      { top: 2, left: 3, h: 5, w: 9 },
      { top: 6, left: 10, h: 6, w: 6 },
      { top: 0, left: 0, h: 12, w: 16 },
      { top: 1, left: 7, h: 3, w: 2 }, // upsampled: samples past the box, clamped at the border
    ];
    const flips = [false, true, false, true, false, true];
    for (const S of [10, 16, 7]) {
      const x = tensor(ramp, { shape: [1, 2, H, W] })
        .expand([list.length, 2, H, W])
        .contiguous();
      const y = numbers(resizedCrop(x, boxes(list), boolTensor(flips), S));
      const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
      list.forEach((box, n) => {
        for (let ch = 0; ch < 2; ch++)
          for (let v = 0; v < S; v++)
            for (let u = 0; u < S; u++) {
              const uu = flips[n] ? S - 1 - u : u;
              const px = clamp(box.left + ((uu + 0.5) * box.w) / S - 0.5, W - 1);
              const py = clamp(box.top + ((v + 0.5) * box.h) / S - 0.5, H - 1);
              const expected = a * px + b * py + c + ch * 0.3;
              const got = y[((n * 2 + ch) * S + v) * S + u]!;
              assert.ok(Math.abs(got - expected) < 1e-5, `S ${S}, view ${n}, (${ch}, ${v}, ${u}): ${got} vs ${expected}`);
            }
      });
    }
  });

  test("columns-constant image: the left half resized to the full side", () => {
    // value = x / 15 in every row; crop x in [0, 8) to 16 columns: px = (u + 0.5) / 2 - 0.5
    const W = 16;
    const data = new Float32Array(W * W);
    for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) data[y * W + x] = x / 15;
    const out = numbers(resizedCrop(tensor(data, { shape: [1, 1, W, W] }), boxes([{ top: 0, left: 0, h: W, w: 8 }]), boolTensor([false]), W));
    const row = out.slice(0, W);
    const expected = Array.from({ length: W }, (_, u) => Math.max(0, (u + 0.5) / 2 - 0.5) / 15);
    assert.ok(maxAbsDiff(row, expected) < 1e-6, `${row} vs ${expected}`);
    for (let y = 1; y < W; y++) assert.ok(maxAbsDiff(out.slice(y * W, y * W + W), row) < 1e-6, `row ${y} equals row 0`);
  });
});

// plain-JS colour formulas (torchvision's tensor functional)

function jsGray(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}

function jsRgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const maxc = Math.max(r, g, b);
  const minc = Math.min(r, g, b);
  if (maxc === minc) return [0, 0, maxc];
  const cr = maxc - minc;
  const s = cr / maxc;
  const rc = (maxc - r) / cr;
  const gc = (maxc - g) / cr;
  const bc = (maxc - b) / cr;
  let h: number;
  if (r === maxc) h = bc - gc;
  else if (g === maxc) h = 2 + rc - bc;
  else h = 4 + gc - rc;
  h = (((h / 6) % 1) + 1) % 1;
  return [h, s, maxc];
}

function jsHsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = clamp01(v * (1 - s));
  const q = clamp01(v * (1 - s * f));
  const t = clamp01(v * (1 - s * (1 - f)));
  switch (((i % 6) + 6) % 6) {
    case 0:
      return [v, t, p];
    case 1:
      return [q, v, p];
    case 2:
      return [p, v, t];
    case 3:
      return [p, q, v];
    case 4:
      return [t, p, v];
    default:
      return [v, p, q];
  }
}

/** Applies fn(pixelRGB, view) per pixel of a (N, 3, H, W) flat array. */
function perPixel(xs: number[], n: number, hw: number, fn: (rgb: [number, number, number], view: number) => [number, number, number]): number[] {
  const out = new Array<number>(xs.length);
  for (let v = 0; v < n; v++)
    for (let i = 0; i < hw; i++) {
      const rgb = [0, 1, 2].map((c) => xs[(v * 3 + c) * hw + i]!) as [number, number, number];
      const res = fn(rgb, v);
      for (let c = 0; c < 3; c++) out[(v * 3 + c) * hw + i] = res[c]!;
    }
  return out;
}

describe("color transforms against plain-JS formulas", () => {
  const next = rng(20);
  const x = randomImage([3, 3, 4, 5], next);
  const xs = numbers(x);
  const hw = 20;

  test("grayscale uses 0.299 / 0.587 / 0.114, and a 1-channel image is its own grayscale", () => {
    const g = grayscale(x);
    assert.deepEqual(g.shape, [3, 1, 4, 5]);
    const gs = numbers(g);
    for (let v = 0; v < 3; v++)
      for (let i = 0; i < hw; i++) {
        const expected = jsGray(xs[v * 3 * hw + i]!, xs[(v * 3 + 1) * hw + i]!, xs[(v * 3 + 2) * hw + i]!);
        assert.ok(Math.abs(gs[v * hw + i]! - expected) < 1e-6);
      }
    const pure = numbers(
      grayscale(
        tensor([
          [[[1]], [[0]], [[0]]],
          [[[0]], [[1]], [[0]]],
          [[[0]], [[0]], [[1]]],
        ]),
      ),
    );
    assert.ok(maxAbsDiff(pure, [0.299, 0.587, 0.114]) < 1e-6, `${pure}`);
    const one = x.narrow(1, 0, 1);
    assert.deepEqual(numbers(grayscale(one)), numbers(one));
  });

  test("adjustBrightness: clamp(f x)", () => {
    const f = [0.3, 1.0, 1.8];
    const y = numbers(adjustBrightness(x, tensor(f)));
    const expected = xs.map((v, i) => clamp01(f[Math.floor(i / (3 * hw))]! * v));
    assert.ok(maxAbsDiff(y, expected) < 1e-6);
  });

  test("adjustContrast: clamp(f x + (1 - f) mean gray of the view), RGB and 1 channel", () => {
    const f = [0.2, 1.0, 1.7];
    const y = numbers(adjustContrast(x, tensor(f)));
    const means = [0, 1, 2].map((v) => {
      let s = 0;
      for (let i = 0; i < hw; i++) s += jsGray(xs[v * 3 * hw + i]!, xs[(v * 3 + 1) * hw + i]!, xs[(v * 3 + 2) * hw + i]!);
      return s / hw;
    });
    const expected = xs.map((v, i) => {
      const view = Math.floor(i / (3 * hw));
      return clamp01(f[view]! * v + (1 - f[view]!) * means[view]!);
    });
    assert.ok(maxAbsDiff(y, expected) < 1e-6);

    const one = x.narrow(1, 1, 1).contiguous();
    const os = numbers(one);
    const y1 = numbers(adjustContrast(one, tensor(f)));
    const m1 = [0, 1, 2].map((v) => mean(os.slice(v * hw, v * hw + hw)));
    const e1 = os.map((v, i) => clamp01(f[Math.floor(i / hw)]! * v + (1 - f[Math.floor(i / hw)]!) * m1[Math.floor(i / hw)]!));
    assert.ok(maxAbsDiff(y1, e1) < 1e-6);
  });

  test("adjustSaturation: clamp(f x + (1 - f) gray) per pixel", () => {
    const f = [0, 0.6, 1.9];
    const y = numbers(adjustSaturation(x, tensor(f)));
    const expected = perPixel(xs, 3, hw, ([r, g, b], v) => {
      const gray = jsGray(r, g, b);
      return [r, g, b].map((c) => clamp01(f[v]! * c + (1 - f[v]!) * gray)) as [number, number, number];
    });
    assert.ok(maxAbsDiff(y, expected) < 1e-6);
  });

  test("rgbToHsv matches the plain-JS formula and hsvToRgb inverts it", () => {
    // random pixels plus the corner cases: primaries, secondaries, gray, black, white
    const special = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
      [1, 1, 0],
      [0, 1, 1],
      [1, 0, 1],
      [0.5, 0.5, 0.5],
      [0, 0, 0],
      [1, 1, 1],
      [0.2, 0.8, 0.8],
    ];
    const img = x.clone();
    const data = numbers(img);
    special.forEach((rgb, i) => rgb.forEach((v, c) => (data[c * hw + i] = v)));
    const z = tensor(new Float32Array(data), { shape: [3, 3, 4, 5] });
    const zs = numbers(z);
    const [h, s, v] = rgbToHsv(z);
    for (const t of [h, s, v]) assert.deepEqual(t.shape, [3, 1, 4, 5]);
    const [hs, ss, vs] = [numbers(h), numbers(s), numbers(v)];
    for (let view = 0; view < 3; view++)
      for (let i = 0; i < hw; i++) {
        const [eh, es, ev] = jsRgbToHsv(zs[view * 3 * hw + i]!, zs[(view * 3 + 1) * hw + i]!, zs[(view * 3 + 2) * hw + i]!);
        const k = view * hw + i;
        assert.ok(hs[k]! >= 0 && hs[k]! < 1, `hue in [0, 1): ${hs[k]}`);
        const dh = Math.abs(hs[k]! - eh);
        assert.ok(Math.min(dh, 1 - dh) < 1e-5, `hue ${hs[k]} vs ${eh}`);
        assert.ok(Math.abs(ss[k]! - es) < 1e-5 && Math.abs(vs[k]! - ev) < 1e-6, `s, v at ${k}`);
      }
    // red: h 0; green: 1/3; blue: 2/3
    assert.ok(maxAbsDiff([hs[0]!, hs[1]!, hs[2]!], [0, 1 / 3, 2 / 3]) < 1e-6);
    const back = hsvToRgb(h, s, v);
    assert.deepEqual(back.shape, [3, 3, 4, 5]);
    assert.ok(maxAbsDiff(back.dataAsNumbers(), zs) < 1e-5);
  });

  test("adjustHue: shift 0 is the identity, 1/3 maps red to green, and random shifts match the plain-JS rotation", () => {
    assert.ok(maxAbsDiff(adjustHue(x, tensor([0, 0, 0])).dataAsNumbers(), xs) < 1e-5);
    const red = tensor([[[[1]], [[0]], [[0]]]]);
    assert.ok(maxAbsDiff(adjustHue(red, tensor([1 / 3])).dataAsNumbers(), [0, 1, 0]) < 1e-5);
    assert.ok(maxAbsDiff(adjustHue(red, tensor([-1 / 3])).dataAsNumbers(), [0, 0, 1]) < 1e-5);
    assert.ok(maxAbsDiff(adjustHue(red, tensor([1 / 6])).dataAsNumbers(), [1, 1, 0]) < 1e-5);
    const shifts = [0.13, -0.41, 0.5];
    const y = numbers(adjustHue(x, tensor(shifts)));
    const expected = perPixel(xs, 3, hw, ([r, g, b], view) => {
      const [h, s, v] = jsRgbToHsv(r, g, b);
      return jsHsvToRgb((((h + shifts[view]!) % 1) + 1) % 1, s, v);
    });
    assert.ok(maxAbsDiff(y, expected) < 1e-5, `max diff ${maxAbsDiff(y, expected)}`);
  });

  test("colorJitter_ applies each view's ops in its own order, only where apply holds", () => {
    const n = 4;
    const img = randomImage([n, 3, 6, 5], rng(21));
    const ops: JitterOp[] = ["brightness", "contrast", "saturation", "hue"];
    const factorValues: Record<JitterOp, number[]> = {
      brightness: [1.7, 0.4, 1.6, 1.5],
      contrast: [0.3, 1.6, 0.2, 1.9],
      saturation: [1.8, 0.2, 1.9, 0.5],
      hue: [0.15, -0.2, 0.3, -0.1],
    };
    const orders = [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [1, 3, 0, 2],
      [2, 0, 3, 1],
    ];
    const apply = [true, true, true, false];
    const params: JitterParams = {
      ops,
      factors: {
        brightness: tensor(factorValues.brightness),
        contrast: tensor(factorValues.contrast),
        saturation: tensor(factorValues.saturation),
        hue: tensor(factorValues.hue),
      },
      apply: boolTensor(apply),
      order: tensor(orders.flat(), { dtype: "int64", shape: [4, 4] }),
    };
    const single: Record<JitterOp, (x: Tensor, f: Tensor) => Tensor> = {
      brightness: adjustBrightness,
      contrast: adjustContrast,
      saturation: adjustSaturation,
      hue: adjustHue,
    };
    const sequential = (view: number, order: number[]) => {
      let v = img.narrow(0, view, 1);
      if (apply[view]) for (const k of order) v = single[ops[k]!](v, tensor([factorValues[ops[k]!][view]!]));
      return numbers(v);
    };
    const out = img.clone();
    const ret = colorJitter_(out, params);
    assert.equal(ret, out, "works in place");
    const got = numbers(out);
    const size = 3 * 6 * 5;
    for (let view = 0; view < n; view++) {
      const mine = got.slice(view * size, (view + 1) * size);
      assert.ok(maxAbsDiff(mine, sequential(view, orders[view]!)) < 1e-5, `view ${view}`);
    }
    // the order matters for these factors: the inverse permutation gives another result
    const inverse = [0, 0, 0, 0];
    orders[2]!.forEach((k, i) => (inverse[k] = i));
    assert.ok(maxAbsDiff(got.slice(2 * size, 3 * size), sequential(2, inverse)) > 1e-3, "order is not ignored");
    assert.ok(maxAbsDiff(got.slice(3 * size), numbers(img.narrow(0, 3, 1))) === 0, "view 3 is left alone");
  });

  test("randomGrayscale replaces only the chosen views", () => {
    const y = numbers(randomGrayscale(x, boolTensor([false, true, false])));
    const expected = perPixel(xs, 3, hw, ([r, g, b], v) => (v === 1 ? [jsGray(r, g, b), jsGray(r, g, b), jsGray(r, g, b)] : [r, g, b]));
    assert.ok(maxAbsDiff(y, expected) < 1e-6);
  });
});

describe("gaussianBlur", () => {
  /** Separable Gaussian with reflect padding (no edge repeat), per view sigma. */
  function jsBlur(xs: number[], n: number, c: number, h: number, w: number, sigma: number[], taps: number): number[] {
    const r = (taps - 1) / 2;
    const reflect = (i: number, len: number) => (i < 0 ? -i : i >= len ? 2 * (len - 1) - i : i);
    const out = new Array<number>(xs.length).fill(0);
    for (let v = 0; v < n; v++) {
      const s = Math.fround(sigma[v]!);
      const k = Array.from({ length: taps }, (_, j) => Math.exp(-((j - r) ** 2) / (2 * s * s)));
      const total = k.reduce((a, b) => a + b, 0);
      const kn = k.map((a) => a / total);
      for (let ch = 0; ch < c; ch++) {
        const base = (v * c + ch) * h * w;
        const tmp = new Array<number>(h * w).fill(0);
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) for (let j = 0; j < taps; j++) tmp[y * w + x]! += kn[j]! * xs[base + y * w + reflect(x + j - r, w)]!;
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) for (let j = 0; j < taps; j++) out[base + y * w + x]! += kn[j]! * tmp[reflect(y + j - r, h) * w + x]!;
      }
    }
    return out;
  }

  test("blurTaps is odd: 2 floor(k / 2) + 1", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 22].map(blurTaps), [1, 1, 3, 3, 5, 23]);
  });

  test("apply = false is the identity; a constant image stays constant", () => {
    const x = randomImage([3, 2, 8, 9], rng(30));
    const sigma = tensor([0.5, 1.2, 2]);
    const y = gaussianBlur(x, sigma, boolTensor([false, false, false]), 5);
    assert.ok(maxAbsDiff(y.dataAsNumbers(), x.dataAsNumbers()) < 1e-6);
    const constant = full([3, 2, 8, 9], 0.37);
    const yc = gaussianBlur(constant, sigma, boolTensor([true, true, true]), 5);
    assert.ok(numbers(yc).every((v) => Math.abs(v - 0.37) < 1e-6));
    // a kernel of one tap is the identity even where apply holds
    assert.ok(maxAbsDiff(gaussianBlur(x, sigma, boolTensor([true, true, true]), 1).dataAsNumbers(), x.dataAsNumbers()) === 0);
  });

  test("matches a plain-JS separable Gaussian with reflect padding, per view sigma", () => {
    const [n, c, h, w] = [3, 2, 6, 7];
    const x = randomImage([n, c, h, w], rng(31));
    const sigmas = [0.7, 1.6, 0.3];
    const apply = [true, true, false];
    for (const kernel of [3, 5]) {
      const y = numbers(gaussianBlur(x, tensor(sigmas), boolTensor(apply), kernel));
      const blurred = jsBlur(numbers(x), n, c, h, w, sigmas, blurTaps(kernel));
      const xs = numbers(x);
      const per = c * h * w;
      const expected = blurred.map((v, i) => (apply[Math.floor(i / per)] ? v : xs[i]!));
      assert.ok(maxAbsDiff(y, expected) < 1e-5, `kernel ${kernel}: max diff ${maxAbsDiff(y, expected)}`);
    }
  });

  test("a kernel too large for the image is an error", () => {
    assert.throws(() => gaussianBlur(rand([1, 1, 3, 3]), tensor([1]), boolTensor([true]), 7), /blur kernel of 7 taps is too large for 3x3 images/);
  });
});
