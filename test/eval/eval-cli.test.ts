import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { runCli } from "../helpers.js";
import { FASHION_MNIST_DEFAULT_PATH, ProgressReporter, loadConfig, pretrain } from "../../src/index.js";

const run = runCli;
const quiet = () => new ProgressReporter({ write: () => true, isTTY: false } as unknown as NodeJS.WriteStream, 1000);
const skip = existsSync(FASHION_MNIST_DEFAULT_PATH) ? false : "Fashion-MNIST is not installed";

describe("simclr eval", { skip }, () => {
  const runDir = mkdtempSync(join(tmpdir(), "simclr-eval-"));
  const small = (width: number) => loadConfig({ set: ["data.limit=128", `model.width=${width}`, "train.batchSize=64", "train.epochs=1"] });

  test("knn and linear print the promised JSON line and append it to results.jsonl", async () => {
    await pretrain(small(4), { outDir: runDir, progress: quiet(), handleSignals: false });
    const limit = ["--set", "data.limit=600"];
    const knn = await run(["eval", "knn", "--run", runDir, ...limit, "--k", "20"]);
    assert.equal(knn.code, 0, knn.stderr);
    const k = JSON.parse(knn.stdout) as Record<string, unknown>;
    assert.equal(k.protocol, "knn");
    for (const key of ["top1", "top5"]) assert.ok((k[key] as number) > 0.1 && (k[key] as number) <= 1, key);
    assert.equal(k.train_size, 600);
    assert.equal(k.test_size, 600);
    const linear = await run(["eval", "linear", "--run", runDir, ...limit]);
    assert.equal(linear.code, 0, linear.stderr);
    const l = JSON.parse(linear.stdout) as Record<string, unknown>;
    assert.equal(l.protocol, "linear");
    assert.ok((l.top1 as number) > 0.3);
    const random = await run(["eval", "knn", "--run", runDir, ...limit, "--random-init"]);
    assert.equal((JSON.parse(random.stdout) as { encoder: string }).encoder, "random-init");
    const paper = await run(["eval", "linear", "--run", runDir, ...limit, "--protocol", "paper", "--epochs", "1"]);
    assert.equal(paper.code, 0, paper.stderr);
    const p = JSON.parse(paper.stdout) as Record<string, unknown>;
    assert.equal(p.protocol, "linear-paper");
    assert.ok(typeof p.top1 === "number" && typeof p.top5 === "number");
    const lines = readFileSync(join(runDir, "results.jsonl"), "utf-8").trim().split("\n");
    assert.equal(lines.length, 4);
  });

  test("bad input: no checkpoint, an architecture mismatch, labels missing", async () => {
    const empty = mkdtempSync(join(tmpdir(), "simclr-eval-empty-"));
    const none = await run(["eval", "knn", "--run", empty]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /is not a pretraining run: .*config.yaml is missing/);

    const other = mkdtempSync(join(tmpdir(), "simclr-eval-other-"));
    await pretrain(small(8), { outDir: other, progress: quiet(), handleSignals: false });
    const mismatch = await run(["eval", "knn", "--run", runDir, "--checkpoint", join(other, "checkpoints", "epoch-0001"), "--set", "data.limit=100"]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /does not match the configured architecture \(resnet18, width 4.*'encoder.conv1.weight' has shape \[8, 1, 3, 3\]/);

    const flat = mkdtempSync(join(tmpdir(), "simclr-eval-flat-"));
    for (const split of ["train", "test"]) {
      mkdirSync(join(flat, split));
      for (let i = 0; i < 3; i++) await sharp(Buffer.alloc(8 * 8 * 3, i * 50), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(join(flat, split, `${i}.png`));
    }
    const unlabeled = await run(["eval", "knn", "--run", runDir, "--set", "data.name=cifar10-jpg", "--set", `data.path=${flat}`]);
    assert.equal(unlabeled.code, 1);
    assert.match(unlabeled.stderr, /has no labels: evaluation needs labelled train and test splits/);
  });
});

describe("simclr compare", () => {
  test("one row per encoder, one column per protocol, the latest result wins", async () => {
    const { writeFileSync } = await import("node:fs");
    const dir = mkdtempSync(join(tmpdir(), "simclr-compare-"));
    const lines = [
      { protocol: "knn", top1: 0.5, encoder: "x/checkpoints/epoch-0001" },
      { protocol: "knn", top1: 0.7, encoder: "x/checkpoints/epoch-0002" },
      { protocol: "linear", top1: 0.8123, encoder: "x/checkpoints/epoch-0002" },
      { protocol: "linear", top1: 0.6, encoder: "random-init" },
      { protocol: "linear", top1: 0.83, encoder: "raw-pixels" },
    ];
    writeFileSync(join(dir, "results.jsonl"), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const r = await run(["compare", dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout.trim(),
      [
        "| encoder | linear top-1 | kNN top-1 |",
        "| --- | ---: | ---: |",
        `| ${dir} | 81.2% | 70.0% |`,
        `| ${dir} (random init) | 60.0% |  |`,
        "| raw pixels | 83.0% |  |",
      ].join("\n"),
    );
    const missing = await run(["compare", mkdtempSync(join(tmpdir(), "simclr-compare-none-"))]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no results.jsonl: run `simclr eval` on it first/);
  });
});

describe("simclr finetune and supervised", { skip }, () => {
  test("print the promised JSON lines and feed compare", async () => {
    const dir = mkdtempSync(join(tmpdir(), "simclr-finetune-"));
    await pretrain(loadConfig({ set: ["data.limit=128", "model.width=4", "train.batchSize=64", "train.epochs=1", "monitor.knnEvery=0"] }), { outDir: dir, progress: quiet(), handleSignals: false });
    const ft = await run(["finetune", "--run", dir, "--labels", "10-per-class", "--epochs", "1", "--batch", "50"]);
    assert.equal(ft.code, 0, ft.stderr);
    const f = JSON.parse(ft.stdout) as Record<string, unknown>;
    assert.equal(f.protocol, "finetune-10-per-class");
    assert.equal(f.train_size, 100);
    assert.ok(typeof f.top1 === "number" && typeof f.top5 === "number");
    assert.match(ft.stderr, /subset: 100 images \(10 per class\)/);
    const reuse = await run(["finetune", "--run", dir, "--subset", join(dir, "subsets", "labels-10-per-class-seed0.json"), "--epochs", "1", "--batch", "50"]);
    assert.equal(reuse.code, 0, reuse.stderr);
    const sup = mkdtempSync(join(tmpdir(), "simclr-supervised-"));
    const s = await run(["supervised", "--out", sup, "--set", "data.limit=128", "--set", "model.width=4", "--set", "train.batchSize=64", "--epochs", "1"]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal((JSON.parse(s.stdout.trim().split("\n").pop()!) as { protocol: string }).protocol, "supervised");
    const table = await run(["compare", dir, sup]);
    assert.match(table.stdout, /supervised top-1/);
    assert.match(table.stdout, /finetune-10-per-class top-1/);
  });
});
