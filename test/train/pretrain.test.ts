import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { FASHION_MNIST_DEFAULT_PATH, NonFiniteLossError, latestCheckpoint, loadCheckpoint, loadConfig, noGrad, pretrain, ProgressReporter } from "../../src/index.js";

const haveData = existsSync(FASHION_MNIST_DEFAULT_PATH);
const skip = haveData ? false : "Fashion-MNIST (Debian's dataset-fashion-mnist) is not installed";
const cli = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "cli", "main.js");
const quiet = () => new ProgressReporter({ write: () => true, isTTY: false } as unknown as NodeJS.WriteStream, 1000);
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-${name}-`));

function losses(dir: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of readFileSync(join(dir, "metrics.jsonl"), "utf-8").split("\n")) {
    if (!line) continue;
    const r = JSON.parse(line) as { step: number; loss?: number };
    if (r.loss !== undefined) out.set(r.step, r.loss);
  }
  return out;
}

/** A small, fast configuration on the first `limit` Fashion-MNIST images. */
function small(limit: number, extra: string[] = []) {
  return loadConfig({
    set: ["data.limit=" + limit, "model.width=4", "train.batchSize=64", "train.epochs=2", "train.warmupEpochs=0.5", "train.logEvery=1", ...extra],
  });
}

describe("pretraining", { skip }, () => {
  test("loss falls on a 2k-image subset", async () => {
    const config = loadConfig({ set: ["data.limit=2048", "model.width=8", "train.batchSize=128", "train.epochs=3", "train.warmupEpochs=0.5", "train.logEvery=1"] });
    const dir = tmp("falls");
    const result = await pretrain(config, { outDir: dir, progress: quiet(), handleSignals: false });
    assert.equal(result.status, "finished");
    assert.equal(result.globalStep, 48);
    const l = [...losses(dir).values()];
    const first = l.slice(0, 4).reduce((a, b) => a + b, 0) / 4;
    const last = l.slice(-4).reduce((a, b) => a + b, 0) / 4;
    assert.ok(last < first * 0.9, `mean loss of the last 4 steps ${last} is not clearly below the first 4 ${first}`);
    // run directory contents
    assert.ok(existsSync(join(dir, "config.yaml")));
    const ckpt = latestCheckpoint(dir);
    assert.ok(ckpt?.endsWith("epoch-0003"));
    const saved = loadCheckpoint(ckpt!);
    assert.equal(saved.state.globalStep, 48);
    assert.ok(saved.model.has("encoder.conv1.weight") && saved.model.has("head.1.bn.weight"));
    assert.ok(saved.optimizer.has("velocity.encoder.conv1.weight"));
  });

  test("resume continues exactly: the loss curve equals an uninterrupted run's", async () => {
    const whole = tmp("whole");
    await pretrain(small(512), { outDir: whole, progress: quiet(), handleSignals: false });
    const split = tmp("split");
    // stop mid-epoch (step 5 of 8), then at the epoch boundary (step 8), then finish
    const first = await pretrain(small(512), { outDir: split, progress: quiet(), handleSignals: false, stopAfterSteps: 5 });
    assert.equal(first.status, "stopped");
    assert.ok(first.checkpoint.endsWith("step-0000005"));
    const second = await pretrain(small(512), { outDir: split, resume: true, progress: quiet(), handleSignals: false, stopAfterSteps: 3 });
    assert.equal(second.globalStep, 8);
    const third = await pretrain(small(512), { outDir: split, resume: true, progress: quiet(), handleSignals: false });
    assert.equal(third.status, "finished");
    const a = losses(whole);
    const b = losses(split);
    assert.equal(a.size, 16);
    assert.deepEqual([...b.keys()], [...a.keys()]);
    for (const [step, loss] of a) assert.ok(Math.abs(loss - b.get(step)!) < 1e-6, `step ${step}: ${loss} vs ${b.get(step)}`);
  });

  test("monitoring (online probe, kNN) is logged and does not change the pretraining result", async () => {
    const on = tmp("monitor-on");
    await pretrain(small(512, ["monitor.knnSamples=500"]), { outDir: on, progress: quiet(), handleSignals: false });
    const off = tmp("monitor-off");
    await pretrain(small(512, ["monitor.knnEvery=0", "monitor.linearProbe=false"]), { outDir: off, progress: quiet(), handleSignals: false });
    assert.deepEqual([...losses(on)], [...losses(off)]);
    const summaries = readFileSync(join(on, "metrics.jsonl"), "utf-8")
      .split("\n")
      .filter((l) => l.includes("epoch_loss"))
      .map((l) => JSON.parse(l) as { probe_acc?: number; knn_top1?: number });
    assert.equal(summaries.length, 2);
    for (const s of summaries) {
      assert.ok(s.probe_acc! > 0 && s.probe_acc! <= 1);
      assert.ok(s.knn_top1! > 0.15 && s.knn_top1! <= 1, `kNN top-1 ${s.knn_top1} is not above chance`);
    }
    const quietSummaries = readFileSync(join(off, "metrics.jsonl"), "utf-8").split("\n").filter((l) => l.includes("epoch_loss"));
    assert.ok(quietSummaries.every((l) => !l.includes("probe_acc") && !l.includes("knn_top1")));
  });

  test("a non-finite loss stops the run and keeps the last good checkpoint", async () => {
    const dir = tmp("nan");
    const config = small(256, ["train.epochs=3"]);
    await assert.rejects(
      pretrain(config, {
        outDir: dir,
        progress: quiet(),
        handleSignals: false,
        onStep: ({ globalStep, model }) => {
          if (globalStep === 6) noGrad(() => model.encoder.conv1.weight.fill_(Number.NaN));
        },
      }),
      (e: Error) => e instanceof NonFiniteLossError && /loss became NaN at step 7 \(epoch 2\).*last good checkpoint is .*epoch-0001/.test(e.message),
    );
    const ckpt = loadCheckpoint(latestCheckpoint(dir)!);
    assert.equal(ckpt.state.globalStep, 4);
    assert.ok(Number.isFinite(ckpt.model.get("encoder.conv1.weight")!.sum().item()));
  });

  test("bad input gives clear errors", async () => {
    const dir = tmp("bad");
    await assert.rejects(pretrain(small(32), { outDir: dir, progress: quiet(), handleSignals: false }), /the training set has 32 images, fewer than train.batchSize 64/);
    await assert.rejects(pretrain(small(64), { outDir: tmp("noresume"), resume: true, progress: quiet(), handleSignals: false }), /has no checkpoint to resume from/);
    const done = tmp("done");
    await pretrain(small(64, ["train.epochs=1"]), { outDir: done, progress: quiet(), handleSignals: false });
    await assert.rejects(pretrain(small(64), { outDir: done, progress: quiet(), handleSignals: false }), /already holds a run with checkpoints: pass --resume/);
    const missing = loadConfig({ set: ["data.name=image-folder", `data.path=${join(dir, "nope")}`] });
    await assert.rejects(pretrain(missing, { outDir: tmp("missing"), progress: quiet(), handleSignals: false }), /nope/);
    const cifar = loadConfig({ set: ["data.name=cifar10"] });
    await assert.rejects(pretrain(cifar, { outDir: tmp("cifar"), progress: quiet(), handleSignals: false }), /data.path is required for data.name cifar10/);
  });
});

function run(args: string[], onStderr?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      onStderr?.(stderr, child);
    });
    child.on("close", (code) => resolve({ code, stderr, stdout }));
  });
}

describe("simclr pretrain (command line)", { skip }, () => {
  test("SIGINT saves a checkpoint and exits 130; --resume finishes the run", async () => {
    const dir = tmp("sigint");
    const args = ["pretrain", "--out", dir, "--set", "data.limit=1024", "--set", "model.width=4", "--set", "train.batchSize=64", "--set", "train.epochs=2", "--set", "train.logEvery=1"];
    let sent = false;
    const first = await run(args, (text, child) => {
      if (!sent && /step 5\/16/.test(text)) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    assert.equal(first.code, 130, first.stderr);
    assert.match(first.stderr, /SIGINT: saving a checkpoint/);
    assert.ok(latestCheckpoint(dir)?.includes("step-"));
    const second = await run(["pretrain", "--out", dir, "--resume"]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /resuming/);
    assert.ok(latestCheckpoint(dir)?.endsWith("epoch-0002"));
    assert.deepEqual([...losses(dir).keys()], Array.from({ length: 32 }, (_, i) => i + 1));
  });

  test("config errors exit 2 and name the key", async () => {
    const out = tmp("cfg");
    const unknown = await run(["pretrain", "--out", out, "--set", "optim.lrr=1"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown key 'optim.lrr' \(known in optim: name, lr/);
    const file = join(out, "bad.yaml");
    writeFileSync(file, "train:\n  batchSize: -3\n");
    const bad = await run(["pretrain", "--out", out, "--config", file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /bad.yaml: train.batchSize must be >= 2, got -3/);
    const noOut = await run(["pretrain"]);
    assert.equal(noOut.code, 2);
    assert.match(noOut.stderr, /pretrain needs --out DIR/);
  });
});
