/**
 * Float16 weights in ONNX: float16Bits against libtorch's own float32 -> float16 conversion
 * (round to nearest, ties to even, subnormals, overflow), and `export --fp16` files that run in
 * onnxruntime at half the size, close to the float32 file's features.
 */
import assert from "node:assert/strict";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { loadConfig, pretrain, tensor } from "../../src/index.js";
import { float16Bits } from "../../src/run/onnx.js";
import { quiet, runCli } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-fp16-${name}-`));

describe("float16 weights", () => {
  test("float16Bits equals libtorch's conversion bit for bit", () => {
    const edge = [
      0,
      -0,
      1,
      -2,
      0.1,
      65504,
      65519,
      65520,
      1e6,
      -1e6,
      2 ** -24,
      2 ** -25,
      3 * 2 ** -26,
      2 ** -14,
      2 ** -14 - 2 ** -25,
      6.1e-5,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      Infinity,
      -Infinity,
    ];
    let seed = 7;
    const random = Array.from({ length: 20000 }, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const u = seed / 2 ** 31;
      return (u - 0.5) * 10 ** Math.floor(u * 14 - 9); // magnitudes from 1e-9 to 1e4
    });
    const values = new Float32Array([...edge, ...random]);
    const t = tensor(values);
    const half = t.to("float16");
    const want = half.data() as Float32Array; // libtorch's half values, widened back to float32
    // decode our bits the slow, obvious way and compare values (+0 and -0 apart)
    const decode = (b: number) => {
      const sign = b & 0x8000 ? -1 : 1;
      const e = (b >> 10) & 0x1f;
      const m = b & 0x3ff;
      if (e === 0x1f) return m === 0 ? sign * Infinity : Number.NaN;
      return e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
    };
    for (let i = 0; i < values.length; i++) {
      const got = decode(float16Bits(values[i] as number));
      assert.ok(Object.is(got, want[i]), `${values[i]}: ${got} vs libtorch ${want[i]}`);
    }
    assert.equal(float16Bits(Number.NaN) & 0x7c00, 0x7c00);
    assert.notEqual(float16Bits(Number.NaN) & 0x3ff, 0);
    t.dispose();
    half.dispose();
  });

  describe("export --fp16", () => {
    let run = "";
    before(async () => {
      const data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
      run = tmp("run");
      (
        await pretrain(run, loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0"]) }), { progress: quiet(), handleSignals: false })
      ).model.dispose();
    });

    test("onnx: about half the file, features within 1e-2 of libtorch's in onnxruntime", async () => {
      const dir = tmp("onnx");
      const full = await runCli(["export", "--run", run, "--format", "onnx", "--out", join(dir, "full.onnx")]);
      const half = await runCli(["export", "--run", run, "--format", "onnx", "--fp16", "--out", join(dir, "half.onnx")]);
      assert.equal(full.code, 0, full.stderr);
      assert.equal(half.code, 0, half.stderr);
      const ratio = statSync(join(dir, "half.onnx")).size / statSync(join(dir, "full.onnx")).size;
      assert.ok(ratio > 0.45 && ratio < 0.56, `size ratio ${ratio}`);
      const h = JSON.parse(half.stdout) as { max_abs_diff_h: number; "simclr.weights": string };
      const f = JSON.parse(full.stdout) as { max_abs_diff_h: number };
      assert.equal(h["simclr.weights"], "float16, computed in float32");
      assert.ok(h.max_abs_diff_h < 1e-2 && h.max_abs_diff_h > f.max_abs_diff_h, `fp16 ${h.max_abs_diff_h}, fp32 ${f.max_abs_diff_h}`);
    });

    test("transformers-js --fp16 writes model_fp16.onnx beside model.onnx; safetensors --fp16 is refused", async () => {
      const dir = join(tmp("tfjs"), "enc");
      const r = await runCli(["export", "--run", run, "--format", "transformers-js", "--fp16", "--out", dir]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { files: string[]; max_abs_diff_pooler_output_fp16: number };
      assert.ok(out.files.some((f) => f.endsWith(join("onnx", "model_fp16.onnx"))));
      assert.ok(out.max_abs_diff_pooler_output_fp16 < 1e-2);
      const bad = await runCli(["export", "--run", run, "--fp16", "--out", join(tmp("st"), "e.safetensors")]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--fp16 goes with --format onnx or transformers-js/);
    });
  });
});
