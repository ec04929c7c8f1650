/**
 * The mobile backbones through the whole tool: SimCLR pretraining (channels-last, the memory
 * pre-flight), kNN evaluation, ONNX and transformers.js export checked against libtorch,
 * `simclr import` of a torchvision-named state dict (its classifier.* left out) and
 * `pretrain --init` from it, whose first step at learning rate 0 keeps the file's weights.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { buildEncoder, latestCheckpoint, loadConfig, pretrain, rand, readSafetensors, writeSafetensors, type Tensor } from "../../src/index.js";
import { quiet, runCli } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-backbones-${name}-`));
const opts = () => ({ progress: quiet(), handleSignals: false });

describe("MobileNetV3 and EfficientNet-B0 in SimCLR", () => {
  let data = "";
  let run = "";
  const small = ["model.arch=mobilenet_v3_small", "model.widthMult=0.5", "train.epochs=1", "monitor.knnEvery=0"];
  before(async () => {
    data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
    run = tmp("run");
    const r = await pretrain(run, loadConfig({ set: syntheticSet(data, small) }), opts());
    assert.equal(r.status, "finished");
    r.model.dispose();
  });

  test("mobilenet_v3_small x0.5 pretrains: finite losses, a checkpoint with torchvision's names under encoder.*", () => {
    const lines = readFileSync(join(run, "metrics.jsonl"), "utf-8").trim().split("\n");
    const losses = lines.map((l) => (JSON.parse(l) as { loss?: number }).loss).filter((l): l is number => l !== undefined);
    assert.equal(losses.length, 4);
    assert.ok(losses.every(Number.isFinite));
    const keys = [...readSafetensors(join(latestCheckpoint(run)!, "model.safetensors")).tensors.keys()];
    assert.ok(keys.includes("encoder.features.0.0.weight") && keys.includes("encoder.features.1.block.1.fc1.weight") && keys.includes("head.0.linear.weight"));
  });

  test("efficientnet_b0 and mobilenet_v3_large take steps (channels-last, stochastic depth in training)", async () => {
    for (const arch of ["efficientnet_b0", "mobilenet_v3_large"]) {
      const set = syntheticSet(data, [`model.arch=${arch}`, "monitor.knnEvery=0", "train.memoryFormat=channels_last"]);
      const r = await pretrain(tmp(arch), loadConfig({ set }), { ...opts(), stopAfterSteps: 2 });
      assert.equal(r.globalStep, 2, arch);
      r.model.dispose();
    }
  });

  test("kNN evaluation, and ONNX and transformers.js exports that equal libtorch", async () => {
    const knn = await runCli(["eval", "knn", "--run", run, "--k", "10"]);
    assert.equal(knn.code, 0, knn.stderr);
    // 4 steps learn little (BN's momentum is torchvision's 0.01): this checks the path, not the accuracy
    const result = JSON.parse(knn.stdout.trim().split("\n").pop()!) as { top1: number; protocol: string };
    assert.equal(result.protocol, "knn");
    assert.ok(result.top1 >= 0 && result.top1 <= 1, knn.stdout);
    const onnx = await runCli(["export", "--run", run, "--format", "onnx", "--out", join(tmp("onnx"), "encoder.onnx")]);
    assert.equal(onnx.code, 0, onnx.stderr);
    assert.ok((JSON.parse(onnx.stdout) as { max_abs_diff_h: number }).max_abs_diff_h <= 1e-4, onnx.stdout);
    const tjs = await runCli(["export", "--run", run, "--format", "transformers-js", "--out", join(tmp("tjs"), "model")]);
    assert.equal(tjs.code, 0, tjs.stderr);
    const diff = /max \|diff\| ([0-9.e+-]+)/.exec((JSON.parse(tjs.stdout) as { check: string }).check);
    assert.ok(diff !== null && Number(diff[1]) <= 1e-4, tjs.stdout);
  });

  test("import of a torchvision-named mobilenet_v3_small (classifier.* left out), then pretrain --init from it keeps its weights at lr 0", async () => {
    const encoder = buildEncoder({ arch: "mobilenet_v3_small", inChannels: 3, cifarStem: false });
    const file = join(tmp("tv"), "mobilenet_v3_small.safetensors");
    const classifier = { "classifier.0.weight": rand([1024, 576]), "classifier.3.weight": rand([10, 1024]) };
    writeSafetensors(file, { ...Object.fromEntries(encoder.stateDict()), ...classifier });
    for (const t of Object.values(classifier)) t.dispose();
    const out = tmp("imported");
    const r = await runCli(["import", "--weights", file, "--out", join(out, "run"), "--arch", "mobilenet_v3_small", "--set", "model.cifarStem=false"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { dropped: string[] }).dropped.sort(), ["classifier.0.weight", "classifier.3.weight"]);
    const wrong = await runCli(["import", "--weights", file, "--out", join(out, "wrong"), "--arch", "efficientnet_b0"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /does not fit efficientnet_b0, CIFAR stem \(3 input channel\(s\)\)/);

    const images = tmp("rgb-data");
    const init = tmp("init-run");
    const set = [
      "data.name=cifar10",
      `data.path=${writeCifar(images)}`,
      "model.arch=mobilenet_v3_small",
      "model.cifarStem=false",
      `model.init=${file}`,
      "optim.lr=0",
      "train.batchSize=16",
      "train.epochs=1",
      "monitor.knnEvery=0",
      "model.widthMult=1",
    ];
    (await pretrain(init, loadConfig({ set }), { ...opts(), stopAfterSteps: 1 })).model.dispose();
    const saved = readSafetensors(join(latestCheckpoint(init)!, "model.safetensors")).tensors;
    let compared = 0;
    for (const [k, t] of encoder.stateDict()) {
      if (/running_|num_batches/.test(k)) continue;
      assert.deepEqual(Array.from((saved.get(`encoder.${k}`) as Tensor).dataAsNumbers()), Array.from(t.dataAsNumbers()), k);
      compared++;
    }
    assert.ok(compared > 100);
    assert.equal((JSON.parse(readFileSync(join(init, "init.json"), "utf-8")) as { dropped: string[] }).dropped.length, 2);
  });
});

/** A tiny CIFAR-10 binary folder (data_batch_1..5, test_batch) of 32 random images each. */
function writeCifar(dir: string): string {
  const record = 1 + 3 * 32 * 32;
  for (const name of ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]) {
    const bytes = Buffer.alloc(32 * record);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % record === 0 ? (i / record) % 10 : (i * 7919) % 251;
    writeFileSync(join(dir, `${name}.bin`), bytes);
  }
  return dir;
}
