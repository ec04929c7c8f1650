/** examples/custom-loop.ts, a training loop from the public pieces only, trains and frees what it makes. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { liveTensorCount, manualSeed, tensor } from "../src/index.js";
import { trainSimclr } from "../examples/custom-loop.js";

test("examples/custom-loop.ts trains a few steps: the loss starts near log(2B - 1) and falls, and nothing leaks", () => {
  manualSeed(3);
  const before = liveTensorCount();
  // one batch of 16 gratings at 16 orientations seen 20 times: a working loop learns to tell them apart
  const side = 16;
  const pixels = new Uint8Array(16 * side * side);
  for (let i = 0; i < 16; i++) {
    const a = (i * Math.PI) / 16;
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) pixels[(i * side + y) * side + x] = Math.round(128 + 100 * Math.sin(1.2 * (x * Math.cos(a) + y * Math.sin(a))));
  }
  const images = tensor(pixels, { shape: [16, 1, side, side] });
  const losses: number[] = [];
  const model = trainSimclr(images, { epochs: 20, batchSize: 16, lr: 16, augment: { cropScale: [0.5, 1] }, onStep: (_s, loss) => losses.push(loss) });
  assert.equal(losses.length, 20);
  assert.ok(losses.every(Number.isFinite));
  assert.ok(Math.abs((losses[0] as number) - Math.log(31)) < 0.7, `first loss ${losses[0]} near log(31) = ${Math.log(31).toFixed(3)}`);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(losses.slice(-6)) < mean(losses.slice(0, 6)) - 0.1, `the loss falls: ${losses.map((l) => l.toFixed(2)).join(" ")}`);
  for (const t of [model, images]) t.dispose();
  assert.equal(liveTensorCount(), before);
});

test("the example imports the package root only (the public surface), no internals", () => {
  const source = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "examples", "custom-loop.ts"), "utf-8");
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "");
  assert.deepEqual(
    [...code.matchAll(/from "([^"]+)"/g)].map((m) => m[1]).filter((s) => !s?.startsWith("node:")),
    ["../src/index.js"],
  );
});
