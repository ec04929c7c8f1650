import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SimCLRAugment, fusedColorDistortion_, manualSeed, rand, randint, tidy, zeros, type AugmentPreset } from "../../src/index.js";

describe("the fused CPU color kernel equals the composed tensor ops", () => {
  for (const [preset, channels] of [
    ["cifar", 3],
    ["imagenet", 3],
    ["grayscale", 1],
  ] as [AugmentPreset, number][]) {
    test(`${preset} preset, ${channels} channel(s), 512 views`, () => {
      tidy(() => {
        manualSeed(7);
        const x = randint(0, 256, [512, channels, 32, 32], { dtype: "uint8" });
        const fused = new SimCLRAugment({ preset });
        const composed = new SimCLRAugment({ preset, fusedCpuKernel: false });
        const params = fused.sample(512, 32, 32, channels);
        const a = fused.apply(x, params);
        const b = composed.apply(x, params);
        assert.ok(a.sub(b).abs().max().item() < 2e-5);
        // and the jitter did something: not all views equal the plain crops
        assert.ok(
          a
            .sub(composed.apply(x, { ...params, jitter: { ...params.jitter, apply: zeros([512], { dtype: "bool" }) } }))
            .abs()
            .max()
            .item() > 0.05,
        );
      });
    });
  }

  test("strong hue shifts, saturated and gray pixels", () => {
    tidy(() => {
      manualSeed(3);
      const aug = new SimCLRAugment({ preset: "imagenet", hue: 0.5, jitterStrength: 1, jitterProbability: 1 });
      const x = rand([64, 3, 8, 8]).mul(2).sub(0.5).clamp(0, 1); // many exact 0s and 1s
      const params = aug.sample(64, 8, 8, 3);
      const a = aug.apply(x, params);
      const b = new SimCLRAugment({ preset: "imagenet", hue: 0.5, jitterStrength: 1, jitterProbability: 1, fusedCpuKernel: false }).apply(x, params);
      assert.ok(a.sub(b).abs().max().item() < 2e-5);
    });
  });

  test("bad arguments are errors, not crashes", () => {
    const aug = new SimCLRAugment({ preset: "cifar" });
    const params = aug.sample(4, 8, 8, 3);
    assert.throws(() => fusedColorDistortion_(rand([4, 3, 8, 8]).to("float64"), params.jitter, null), /contiguous float32 CPU tensor/);
    assert.throws(() => fusedColorDistortion_(rand([4, 2, 8, 8]), params.jitter, null), /1 or 3 channels/);
    assert.throws(() => fusedColorDistortion_(rand([5, 3, 8, 8]), params.jitter, null), /ops must be \(N, K\)/);
  });
});
