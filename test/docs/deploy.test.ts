/**
 * docs/deploy.md's snippets run as written: every ```js deploy block is saved as a module in a
 * folder holding a run's exports (models/simclr-encoder, encoder.onnx) and a photo.jpg, and run
 * with node. The onnxruntime-node snippet's h must equal `simclr embed`'s for the same photo.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import sharp from "sharp";
import { loadConfig, pretrain, readNpy } from "../../src/index.js";
import { quiet, runCli } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

test("docs/deploy.md: every js deploy snippet runs, and the onnxruntime-node one gives simclr embed's h", async () => {
  const text = readFileSync(join(ROOT, "docs", "deploy.md"), "utf-8");
  const snippets = [...text.matchAll(/```js deploy\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  assert.ok(snippets.length >= 2, `${snippets.length} snippets`);

  const dir = mkdtempSync(join(tmpdir(), "simclr-deploy-"));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir"); // the snippets import the project's packages
  const data = writeSyntheticIdx(join(dir, "data"), 256);
  const run = join(dir, "run");
  (
    await pretrain(run, loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0"]) }), { progress: quiet(), handleSignals: false })
  ).model.dispose();
  for (const argv of [
    ["export", "--run", run, "--format", "transformers-js", "--out", join(dir, "models", "simclr-encoder")],
    ["export", "--run", run, "--format", "onnx", "--out", join(dir, "encoder.onnx")],
  ]) {
    const r = await runCli(argv);
    assert.equal(r.code, 0, r.stderr);
  }
  const px = Buffer.alloc(40 * 36 * 3);
  for (let i = 0; i < 40 * 36; i++) px.fill((i * 13) % 256, i * 3, i * 3 + 3);
  mkdirSync(join(dir, "photos"));
  await sharp(px, { raw: { width: 40, height: 36, channels: 3 } })
    .jpeg({ quality: 95 })
    .toFile(join(dir, "photos", "photo.jpg"));
  writeFileSync(join(dir, "photo.jpg"), readFileSync(join(dir, "photos", "photo.jpg")));

  const outputs: { dims: number[]; first: number[] }[] = [];
  for (const [i, code] of snippets.entries()) {
    const file = join(dir, `snippet-${i}.mjs`);
    writeFileSync(file, code);
    const { stdout } = await promisify(execFile)(process.execPath, [file], { cwd: dir, encoding: "utf-8" });
    const out = JSON.parse(stdout.trim().split("\n").pop() as string) as { dims: number[]; first: number[] };
    assert.deepEqual(out.dims, [1, 32], `snippet ${i}: h of width-4 ResNet-18`);
    assert.ok(out.first.every(Number.isFinite));
    outputs.push(out);
  }
  const embed = await runCli(["embed", "--run", run, "--images", join(dir, "photos"), "--out", join(dir, "h.npy")]);
  assert.equal(embed.code, 0, embed.stderr);
  const h = readNpy(join(dir, "h.npy")).data;
  const ortSnippet = outputs[snippets.findIndex((s) => s.includes("onnxruntime-node"))]!;
  for (let j = 0; j < 3; j++)
    assert.ok(Math.abs((ortSnippet.first[j] as number) - (h[j] as number)) < 1e-4, `h[${j}]: ${ortSnippet.first[j]} vs embed ${h[j]}`);
});
