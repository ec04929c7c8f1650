import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { runCli, quiet } from "../helpers.js";
import { loadConfig, pretrain } from "../../src/index.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const run = runCli;
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-${name}-`));
const data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 512);
const CHANCE = 0.1; // 10 balanced classes
const small = (width: number, extra: string[] = []) =>
  loadConfig({ set: syntheticSet(data, [`model.width=${width}`, "train.epochs=1", "monitor.knnEvery=0", ...extra]) });
const results = (dir: string) =>
  existsSync(join(dir, "results.jsonl"))
    ? readFileSync(join(dir, "results.jsonl"), "utf-8")
        .trim()
        .split("\n")
        .filter((l) => l !== "")
    : [];

/** A new pretraining run (1 epoch at width 4 on the synthetic data): every test makes its own. */
async function freshRun(name: string, width = 4): Promise<string> {
  const dir = tmp(name);
  await pretrain(dir, small(width), { progress: quiet(), handleSignals: false });
  return dir;
}

describe("simclr eval", () => {
  test("knn and linear print the promised JSON line, append it to results.jsonl, and score well above chance", async () => {
    const runDir = await freshRun("eval");
    const knn = await run(["eval", "knn", "--run", runDir, "--k", "20"]);
    assert.equal(knn.code, 0, knn.stderr);
    const k = JSON.parse(knn.stdout) as Record<string, number>;
    assert.equal(k.protocol, "knn");
    assert.equal(k.k, 20);
    assert.ok(k.top1! > CHANCE + 0.3 && k.top1! <= 1, `kNN top-1 ${k.top1}`);
    assert.ok(k.top5! >= k.top1!);
    assert.equal(k.train_size, 512);
    assert.equal(k.test_size, 128);
    const linear = await run(["eval", "linear", "--run", runDir]);
    assert.equal(linear.code, 0, linear.stderr);
    const l = JSON.parse(linear.stdout) as Record<string, number>;
    assert.equal(l.protocol, "linear");
    assert.ok(l.top1! > CHANCE + 0.3, `linear top-1 ${l.top1}`);
    const random = await run(["eval", "knn", "--run", runDir, "--random-init"]);
    assert.equal((JSON.parse(random.stdout) as { encoder: string }).encoder, "random-init");
    const pixels = await run(["eval", "knn", "--run", runDir, "--raw-pixels", "--set", "data.limit=200"]);
    const px = JSON.parse(pixels.stdout) as Record<string, number>;
    assert.equal(px.train_size, 200);
    assert.equal(px.test_size, 128);
    const paper = await run(["eval", "linear", "--run", runDir, "--protocol", "paper", "--epochs", "10", "--set", "eval.batchSize=64", "--set", "eval.lr=4"]);
    assert.equal(paper.code, 0, paper.stderr);
    const p = JSON.parse(paper.stdout) as Record<string, number>;
    assert.equal(p.protocol, "linear-paper");
    assert.equal(p.epochs, 10);
    assert.equal(p.lr, (4 * 64) / 256);
    assert.ok(p.top1! > CHANCE + 0.2, `linear (paper) top-1 ${p.top1}`);
    assert.match(paper.stderr, /linear \(paper\) epoch 10\/10/);
    assert.equal(results(runDir).length, 5);
  });

  test("flags are checked by the schema: bad values exit 2, name the flag and key, and record nothing", async () => {
    const runDir = await freshRun("eval-flags");
    const before = results(runDir).length;
    for (const [args, pattern] of [
      [["--k", "abc"], /--k: eval\.k must be an integer, got "abc"/],
      [["--k", "0"], /--k: eval\.k must be >= 1, got 0/],
      [["--temperature=-1"], /--temperature: eval\.temperature must be >= 0.000001, got -1/],
      [["--protocol", "slow"], /--protocol: eval\.protocol must be one of fast, paper/],
      [["--set", "model.width=8"], /--set: model\.width cannot be changed here \(only data\.\*, eval\.\*/],
    ] as const) {
      const r = await run(["eval", "knn", "--run", runDir, ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
    assert.equal(results(runDir).length, before);
  });

  test("bad input: no checkpoint, an architecture mismatch, labels missing", async () => {
    const runDir = await freshRun("eval-bad");
    const empty = mkdtempSync(join(tmpdir(), "simclr-eval-empty-"));
    const none = await run(["eval", "knn", "--run", empty]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /is not a run directory: .*config.yaml is missing/);

    const other = await freshRun("eval-other", 8);
    const mismatch = await run(["eval", "knn", "--run", runDir, "--checkpoint", join(other, "checkpoints", "epoch-0001"), "--set", "data.limit=100"]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /does not match the configured architecture \(resnet18, width 4.*'encoder.conv1.weight' has shape \[8, 1, 3, 3\]/);

    const flat = mkdtempSync(join(tmpdir(), "simclr-eval-flat-"));
    for (const split of ["train", "test"]) {
      mkdirSync(join(flat, split));
      for (let i = 0; i < 3; i++)
        await sharp(Buffer.alloc(8 * 8 * 3, i * 50), { raw: { width: 8, height: 8, channels: 3 } })
          .png()
          .toFile(join(flat, split, `${i}.png`));
    }
    const unlabeled = await run(["eval", "knn", "--run", runDir, "--set", "data.name=cifar10-jpg", "--set", `data.path=${flat}`]);
    assert.equal(unlabeled.code, 1);
    assert.match(unlabeled.stderr, /has no labels: evaluation needs labelled train and test splits/);
  });
});

describe("simclr eval --labels (the low-label view)", () => {
  test("trains on a class-balanced seeded subset, names the protocol after it, clamps k, and feeds compare's columns", async () => {
    const runDir = await freshRun("eval-labels");
    const one = await run(["eval", "linear", "--run", runDir, "--labels", "10%"]);
    assert.equal(one.code, 0, one.stderr);
    const l = JSON.parse(one.stdout) as Record<string, unknown>;
    assert.equal(l.protocol, "linear-10%");
    assert.equal(l.train_size, 50); // 10% of 512 is 51.2 -> 5 per class x 10 classes
    assert.equal(l.labels, "10%");
    assert.equal(l.test_size, 128);
    assert.match(one.stderr, /labels: 50 of 512 train images \(5 per class, seed 0\)/);
    // the same subset again: the same result; another seed: another subset
    const again = JSON.parse((await run(["eval", "linear", "--run", runDir, "--labels", "10%"])).stdout) as Record<string, number>;
    assert.equal(again.top1, l.top1);
    const knn = await run(["eval", "knn", "--run", runDir, "--labels", "2-per-class", "--set", "eval.seed=3"]);
    assert.equal(knn.code, 0, knn.stderr);
    const k = JSON.parse(knn.stdout) as Record<string, unknown>;
    assert.equal(k.protocol, "knn-2-per-class");
    assert.equal(k.train_size, 20);
    assert.equal(k.k, 20); // eval.k 200 clamped to the 20 labelled images
    assert.equal(k.label_seed, 3);
    const pixels = await run(["eval", "linear", "--run", runDir, "--labels", "10%", "--raw-pixels"]);
    assert.equal(pixels.code, 0, pixels.stderr);
    const table = (await run(["compare", runDir])).stdout;
    assert.match(table.split("\n")[0]!, /\| encoder \| 10% labels linear top-1 \|.*knn-2-per-class top-1/);
    assert.match(table, /\| raw pixels \| [\d.]+% \|/);
    const few = await run(["eval", "linear", "--run", runDir, "--labels", "1%"]);
    assert.equal(few.code, 2);
    assert.match(few.stderr, /eval.labels: the label subset 1% leaves no image per class \(512 images, 10 classes\)/);
    const bad = await run(["eval", "linear", "--run", runDir, "--labels", "ten"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--labels: eval.labels must be like 1%, 10% or 25-per-class/);
    const tooMany = await run(["eval", "linear", "--run", runDir, "--labels", "999-per-class"]);
    assert.equal(tooMany.code, 2);
    assert.match(tooMany.stderr, /eval.labels/);
  });
});

describe("weights that cannot be right", () => {
  test("a checkpoint with NaN weights or a float tensor stored as integers is refused, and nothing is recorded", async () => {
    const runDir = await freshRun("eval-nan");
    const { readSafetensors, writeSafetensors, full, zeros } = await import("../../src/index.js");
    const latest = readFileSync(join(runDir, "checkpoints", "latest"), "utf-8").trim();
    const file = join(runDir, "checkpoints", latest, "model.safetensors");
    const { tensors, metadata } = readSafetensors(file);
    const shape = tensors.get("encoder.conv1.weight")!.shape;
    tensors.set("encoder.conv1.weight", full(shape, Number.NaN));
    writeSafetensors(file, tensors, metadata);
    const nan = await run(["eval", "knn", "--run", runDir]);
    assert.equal(nan.code, 1);
    assert.match(nan.stderr, /model\.safetensors cannot be loaded: .*'encoder\.conv1\.weight' holds NaN or infinite values/);
    tensors.set("encoder.conv1.weight", zeros(shape, { dtype: "int32" }));
    writeSafetensors(file, tensors, metadata);
    const ints = await run(["eval", "knn", "--run", runDir]);
    assert.equal(ints.code, 1);
    assert.match(ints.stderr, /'encoder\.conv1\.weight' is int32 in the state dict, the module holds float32/);
    assert.deepEqual(results(runDir), []);
  });
});

describe("a data set without a test split", () => {
  test("is never scored on its training images: a seeded 20% per class is held out, and the result says so", async () => {
    const runDir = await freshRun("eval-folder");
    const { writePngFolder } = await import("../search/fixture.js");
    const folder = await writePngFolder(data, 100); // 100 images in class sub-folders
    const set = ["data.name=image-folder", `data.path=${folder}`, "data.size=28", "data.channels=1"].flatMap((s) => ["--set", s]);
    const r = await run(["eval", "knn", "--run", runDir, "--k", "1", ...set]);
    assert.equal(r.code, 0, r.stderr);
    const k = JSON.parse(r.stdout) as { train_size: number; test_size: number; split: string; top1: number };
    assert.equal(k.train_size + k.test_size, 100);
    assert.ok(k.test_size >= 15 && k.test_size <= 25, String(k.test_size));
    assert.match(k.split, /^held out: \d+ of 100 images \(20% per class, seed 0\) of image folder .*, which has no test split$/);
    const again = JSON.parse((await run(["eval", "knn", "--run", runDir, "--k", "1", ...set])).stdout) as { top1: number };
    assert.equal(again.top1, k.top1);
    const own = JSON.parse((await run(["eval", "knn", "--run", runDir])).stdout) as { split: string };
    assert.equal(own.split, "test split");
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
    assert.match(missing.stderr, /results.jsonl: .* has no results: evaluate it first/);
  });
});

describe("simclr finetune and supervised", () => {
  test("print the promised JSON lines, learn, and feed compare", async () => {
    const dir = await freshRun("finetune");
    const ft = await run(["finetune", "--run", dir, "--labels", "10-per-class", "--epochs", "30", "--batch", "50", "--lr", "1"]);
    assert.equal(ft.code, 0, ft.stderr);
    const f = JSON.parse(ft.stdout) as Record<string, number>;
    assert.equal(f.protocol, "finetune-10-per-class");
    assert.equal(f.train_size, 100);
    assert.equal(f.epochs, 30);
    assert.equal(f.lr, 50 / 256);
    assert.ok(f.top1! > CHANCE + 0.4, `fine-tuned top-1 ${f.top1}`);
    assert.match(ft.stderr, /subset: 100 images \(10 per class\)/);
    const reuse = await run(["finetune", "--run", dir, "--subset", join(dir, "subsets", "labels-10-per-class-seed0.json"), "--epochs", "1", "--batch", "50"]);
    assert.equal(reuse.code, 0, reuse.stderr);
    const badLabels = await run(["finetune", "--run", dir, "--labels", "lots"]);
    assert.equal(badLabels.code, 2, badLabels.stderr);
    assert.match(badLabels.stderr, /--labels: finetune\.labels must be like 1%, 10% or 25-per-class, got 'lots'/);

    const sup = tmp("supervised");
    const common = syntheticSet(data, ["model.width=4"]).flatMap((x) => ["--set", x]);
    for (const [flag, value, pattern] of [
      ["--epochs", "abc", /--epochs: supervised\.epochs must be an integer, got "abc"/],
      ["--epochs", "0", /--epochs: supervised\.epochs must be >= 1, got 0/],
      ["--lr", "fast", /--lr: supervised\.lr must be a number, got "fast"/],
      ["--batch", "2.5", /--batch: supervised\.batchSize must be an integer, got 2\.5/],
    ] as const) {
      const bad = await run(["supervised", "--out", sup, ...common, flag, value]);
      assert.equal(bad.code, 2, `${flag} ${value}: ${bad.stderr}`);
      assert.match(bad.stderr, pattern);
    }
    assert.equal(results(sup).length, 0, "a rejected flag records nothing");
    const s = await run(["supervised", "--out", sup, ...common, "--epochs", "5", "--batch", "64", "--lr", "1"]);
    assert.equal(s.code, 0, s.stderr);
    const r = JSON.parse(s.stdout.trim().split("\n").pop()!) as Record<string, number>;
    assert.equal(r.protocol, "supervised");
    assert.equal(r.epochs, 5);
    assert.ok(r.top1! > CHANCE + 0.3, `supervised top-1 ${r.top1}`);
    assert.match(s.stderr, /supervised epoch 5\/5/);
    const table = await run(["compare", dir, sup]);
    assert.match(table.stdout, /supervised top-1/);
    assert.match(table.stdout, /finetune-10-per-class top-1/);
  });
});
