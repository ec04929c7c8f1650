/** simclr export --format onnx: the graph runs in onnxruntime-node with libtorch's outputs. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import {
  BatchNorm1d,
  BatchNorm2d,
  SimCLRModel,
  type EncoderOptions,
  loadConfig,
  loadEncoder,
  evaluationConfig,
  noGrad,
  pretrain,
  rand,
  randn,
  withSeed,
  type Tensor,
} from "../../src/index.js";
import { decodeOnnx, encodeOnnx } from "../../src/run/onnx.js";
import { onnxGraph } from "../../src/run/onnx-model.js";
import { maxAbsDiff, runCli, quiet } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-${name}-`));

async function runOrt(file: string, input: Tensor): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(file);
  try {
    const out = await session.run({ input: new ort.Tensor("float32", input.data() as Float32Array, input.shape) });
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/**
 * A model whose BN layers hold non-trivial affine parameters and running statistics (from
 * training-mode passes over noise, so activations stay O(1) as in a trained model), so
 * folding is exercised.
 */
function scrambledModel(encoder: EncoderOptions, inChannels: number, side: number): SimCLRModel {
  return withSeed(7, () => {
    const model = new SimCLRModel({ ...encoder, inChannels, headLayers: 3, outDim: 16 });
    noGrad(() => {
      for (const [, m] of model.namedModules()) {
        if (!(m instanceof BatchNorm2d || m instanceof BatchNorm1d)) continue;
        if (m.bias !== null) m.bias.copy_(randn(m.bias.shape).mul(0.2));
        if (m.weight !== null) m.weight.copy_(rand(m.weight.shape).add(0.5));
      }
      model.train();
      for (let i = 0; i < 12; i++) {
        const x = rand([16, inChannels, side, side]);
        const { h, z } = model.forward(x);
        for (const t of [x, h, z]) t.dispose();
      }
    });
    return model.eval();
  });
}

describe("ONNX export", () => {
  for (const [encoder, channels, side] of [
    [{ arch: "resnet18", width: 4, cifarStem: true, zeroInitResidual: false }, 1, 28],
    [{ arch: "resnet50", width: 4, cifarStem: false, zeroInitResidual: false }, 3, 40],
    [{ arch: "mobilenet_v3_small", widthMult: 0.5, cifarStem: true }, 3, 32],
    [{ arch: "mobilenet_v3_large", widthMult: 0.35, cifarStem: false }, 1, 40],
    [{ arch: "efficientnet_b0", cifarStem: true }, 3, 32],
  ] as [EncoderOptions, number, number][]) {
    const { arch, cifarStem } = encoder;
    for (const fold of [true, false]) {
      test(`${arch} (${cifarStem ? "CIFAR" : "ImageNet"} stem, ${channels} channel(s)) + 3-layer head, BN ${fold ? "folded" : "as nodes"}: onnxruntime equals libtorch at batch 1 and 7`, async () => {
        const model = scrambledModel(encoder, channels, side);
        const file = join(tmp("onnx"), "model.onnx");
        const { writeFileSync } = await import("node:fs");
        writeFileSync(file, encodeOnnx(onnxGraph(model.encoder, { head: model.head, inputSize: side, foldBatchNorm: fold }), { producerVersion: "test" }));
        for (const batch of [1, 7]) {
          const x = withSeed(batch, () => rand([batch, channels, side, side])); // (batch, C, H, W)
          const { h, z } = noGrad(() => model.forward(x)); // (batch, D), (batch, 16)
          const got = await runOrt(file, x);
          assert.ok(maxAbsDiff(got.h as Float32Array, h.dataAsNumbers()) <= 1e-4, `h differs by ${maxAbsDiff(got.h as Float32Array, h.dataAsNumbers())}`);
          assert.ok(maxAbsDiff(got.z as Float32Array, z.dataAsNumbers()) <= 1e-4, `z differs by ${maxAbsDiff(got.z as Float32Array, z.dataAsNumbers())}`);
          assert.ok(h.abs().max().item() > 0.01 && h.abs().max().item() < 100, `|h| max ${h.abs().max().item()}`);
          for (const t of [x, h, z]) t.dispose();
        }
        const decoded = decodeOnnx(readFileSync(file));
        assert.equal(decoded.opset, 17);
        assert.equal(decoded.irVersion, 8);
        assert.deepEqual(decoded.inputs, [{ name: "input", shape: ["batch", channels, side, side] }]);
        assert.deepEqual(
          decoded.outputs.map((o) => o.name),
          ["h", "z"],
        );
        assert.equal(decoded.outputs[0]?.shape[0], "batch");
        assert.equal(
          decoded.nodes.some((n) => n.op === "BatchNormalization"),
          !fold,
        );
        assert.equal(
          decoded.nodes.some((n) => n.op === "MaxPool"),
          arch.startsWith("resnet") && !cifarStem,
        );
        if (arch.startsWith("mobilenet")) assert.ok(["HardSwish", "HardSigmoid"].every((op) => decoded.nodes.some((n) => n.op === op)));
        model.dispose();
      });
    }
  }

  describe("simclr export --format onnx on a run", () => {
    let run = "";
    before(async () => {
      const data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
      run = tmp("run");
      await pretrain(run, loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0"]) }), { progress: quiet(), handleSignals: false });
    });

    test("writes the encoder, checks it on the run's test images, records the metadata", async () => {
      const out = join(tmp("export"), "encoder.onnx");
      const r = await runCli(["export", "--run", run, "--format", "onnx", "--out", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /onnxruntime-node vs libtorch on 8 images of mnist test/);
      const diff = (JSON.parse(r.stdout) as { max_abs_diff_h: number }).max_abs_diff_h;
      assert.ok(diff >= 0 && diff <= 1e-4, r.stdout);
      const decoded = decodeOnnx(readFileSync(out));
      assert.equal(decoded.metadata["simclr.arch"], "resnet18");
      assert.equal(decoded.metadata["simclr.batch_norm"], "folded");
      assert.equal(decoded.metadata.format, undefined);
      assert.deepEqual(
        decoded.outputs.map((o) => o.name),
        ["h"],
      );

      // the same file on real images, outside the exporter: equal to the run's encoder
      const config = evaluationConfig(run);
      const { model } = loadEncoder({ config, inChannels: 1, runDir: run });
      model.eval();
      const x = withSeed(3, () => rand([7, 1, 28, 28]));
      const h = noGrad(() => model.encoder.forward(x));
      assert.ok(maxAbsDiff((await runOrt(out, x)).h as Float32Array, h.dataAsNumbers()) <= 1e-4);
      for (const t of [x, h]) t.dispose();
      model.dispose();
    });

    test("an unknown format and a run without a checkpoint are clear errors", async () => {
      const bad = await runCli(["export", "--run", run, "--format", "tflite", "--out", join(tmp("x"), "m")]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--format must be one of safetensors, onnx, transformers-js, got 'tflite'/);
      const empty = tmp("empty-run");
      const none = await runCli(["export", "--run", empty, "--format", "onnx", "--out", join(tmp("y"), "m.onnx")]);
      assert.notEqual(none.code, 0);
      assert.match(none.stderr, new RegExp(`${empty}`));
    });
  });
});
