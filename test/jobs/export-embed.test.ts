/** simclr export (safetensors with torchvision's names) and simclr embed (.npy + sidecar). */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import sharp from "sharp";
import {
  evaluationConfig,
  extractFeatures,
  latestCheckpoint,
  loadConfig,
  loadEncoder,
  noGrad,
  pretrain,
  readNpy,
  readSafetensors,
  resnet,
  tensor,
  writeSafetensors,
} from "../../src/index.js";
import { maxAbsDiff, runCli, quiet } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-${name}-`));

describe("export and embed", () => {
  let run = "";
  let data = "";
  before(async () => {
    data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
    run = tmp("run");
    await pretrain(run, loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0"]) }), { progress: quiet(), handleSignals: false });
  });

  test("export writes torchvision's names and metadata; a fresh ResNet loaded from it gives the run's features", async () => {
    const out = join(tmp("export"), "encoder.safetensors");
    const r = await runCli(["export", "--run", run, "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const { tensors, metadata } = readSafetensors(out);
    assert.ok(tensors.has("conv1.weight") && tensors.has("layer4.1.bn2.running_var"));
    assert.ok(![...tensors.keys()].some((k) => k.startsWith("fc.") || k.startsWith("encoder.") || k.startsWith("head.")));
    assert.equal(metadata["simclr.arch"], "resnet18");
    assert.equal(metadata["simclr.width"], "4");
    assert.equal(metadata["simclr.in_channels"], "1");
    assert.equal(metadata["simclr.input_size"], "28");
    assert.match(metadata["simclr.input"] ?? "", /\[0, 1\]/);
    const fresh = resnet({ depth: 18, width: 4, cifarStem: true, inChannels: 1 });
    fresh.loadStateDict(tensors);
    const config = evaluationConfig(run);
    const { encoder } = loadEncoder({ config, inChannels: 1, runDir: run });
    const images = tensor(
      new Uint8Array(5 * 28 * 28).map((_, i) => (i * 37) % 256),
      { shape: [5, 1, 28, 28] },
    );
    const a = noGrad(() => extractFeatures(fresh, images));
    const b = noGrad(() => extractFeatures(encoder, images));
    assert.ok(maxAbsDiff(a.dataAsNumbers(), b.dataAsNumbers()) < 1e-6);

    const both = join(tmp("export-head"), "model.safetensors");
    assert.equal((await runCli(["export", "--run", run, "--out", both, "--part", "encoder+head"])).code, 0);
    assert.ok(readSafetensors(both).tensors.has("head.0.linear.weight") || [...readSafetensors(both).tensors.keys()].some((k) => k.startsWith("head.")));
  });

  test("export -> import -> the imported run's features equal the original's; fc.* is dropped; a wrong width is an error naming the key", async () => {
    const dir = tmp("import");
    const file = join(dir, "encoder.safetensors");
    assert.equal((await runCli(["export", "--run", run, "--out", file])).code, 0);
    // a torchvision classifier's file also holds fc.*
    const { tensors } = readSafetensors(file);
    tensors.set("fc.weight", tensor(new Float32Array(10 * 32), { shape: [10, 32] }));
    tensors.set("fc.bias", tensor(new Float32Array(10)));
    const { writeSafetensors } = await import("../../src/index.js");
    const withFc = join(dir, "classifier.safetensors");
    writeSafetensors(withFc, tensors);
    const imported = join(dir, "run");
    const r = await runCli([
      "import",
      "--weights",
      withFc,
      "--out",
      imported,
      "--width",
      "4",
      ...syntheticSet(data)
        .filter((x) => x.startsWith("data."))
        .flatMap((x) => ["--set", x]),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { dropped: string[] }).dropped.sort(), ["fc.bias", "fc.weight"]);
    const images = tensor(
      new Uint8Array(4 * 28 * 28).map((_, i) => (i * 11) % 256),
      { shape: [4, 1, 28, 28] },
    );
    const a = loadEncoder({ config: evaluationConfig(run), inChannels: 1, runDir: run }).encoder;
    const b = loadEncoder({ config: evaluationConfig(imported), inChannels: 1, runDir: imported }).encoder;
    assert.ok(maxAbsDiff(noGrad(() => extractFeatures(a, images)).dataAsNumbers(), noGrad(() => extractFeatures(b, images)).dataAsNumbers()) < 1e-6);
    const knn = await runCli(["eval", "knn", "--run", imported]);
    assert.equal(knn.code, 0, knn.stderr);
    const wrong = await runCli(["import", "--weights", file, "--out", join(dir, "wrong"), "--width", "8"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /does not fit resnet18 width 8, CIFAR stem .*'conv1.weight' has shape \[4, 1, 3, 3\]/);
  });

  test("export: bad input is a clear error", async () => {
    const unknown = await runCli(["export", "--run", run, "--out", join(tmp("bad-format"), "x.tflite"), "--format", "tflite"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--format must be one of safetensors, onnx, transformers-js, got 'tflite'/);
    const empty = tmp("empty-run");
    writeFileSync(join(empty, "config.yaml"), readFileSync(join(run, "config.yaml")));
    const none = await runCli(["export", "--run", empty, "--out", join(empty, "x.safetensors")]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /has no checkpoint \(checkpoints\/latest is missing\): pretrain it first/);
  });

  test("embed an image folder: h of every readable image as .npy, files and labels in the sidecar, unreadable ones skipped and reported", async () => {
    const folder = tmp("photos");
    for (const c of ["a", "b"]) {
      mkdirSync(join(folder, c));
      for (let i = 0; i < 3; i++)
        await sharp(Buffer.alloc(20 * 20 * 3, 40 * i + (c === "a" ? 0 : 100)), { raw: { width: 20, height: 20, channels: 3 } })
          .png()
          .toFile(join(folder, c, `${i}.png`));
    }
    writeFileSync(join(folder, "a", "broken.jpg"), "not a jpeg");
    const out = join(tmp("embed"), "h.npy");
    const r = await runCli(["embed", "--run", run, "--images", folder, "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /skipped .*broken\.jpg/);
    const { data: h, shape } = readNpy(out);
    assert.deepEqual(shape, [6, 32]); // ResNet-18 width 4: 8 x 4 features
    const side = JSON.parse(readFileSync(out.replace(/\.npy$/, ".json"), "utf-8")) as {
      files: string[];
      labels: number[];
      classes: string[];
      skipped: { file: string }[];
      output: string;
    };
    assert.equal(side.files.length, 6);
    assert.deepEqual(side.classes, ["a", "b"]);
    assert.deepEqual([...side.labels].sort(), [0, 0, 0, 1, 1, 1]);
    assert.equal(side.skipped.length, 1);
    assert.equal(side.output, "h");
    // the same numbers as the library's feature extraction on the same images
    const { images } = await import("../../src/index.js").then((m) =>
      m.loadImageFolder({ path: folder, size: 28, channels: 1, skipBad: true, cacheDir: null }),
    );
    const { encoder } = loadEncoder({ config: evaluationConfig(run), inChannels: 1, runDir: run });
    const expected = noGrad(() => extractFeatures(encoder, images));
    assert.ok(maxAbsDiff(h, expected.dataAsNumbers()) < 1e-5);

    const z = await runCli(["embed", "--run", run, "--split", "test", "--out", join(tmp("embed-z"), "z.npy"), "--z"]);
    assert.equal(z.code, 0, z.stderr);
    assert.match(z.stdout, /"shape":\[64,128\]/);
  });

  test("a diverged checkpoint (finite weights, infinite features) is refused by embed, index and export; --allow-non-finite opts out", async () => {
    // As a run that diverged leaves it: every weight finite, but a BN running mean of -3e38
    // makes the first block's output overflow to infinity in inference mode.
    const diverged = tmp("diverged");
    cpSync(run, diverged, { recursive: true });
    const file = join(latestCheckpoint(diverged)!, "model.safetensors");
    const { tensors, metadata } = readSafetensors(file);
    const mean = tensors.get("encoder.bn1.running_mean")!;
    tensors.set("encoder.bn1.running_mean", tensor(new Float32Array(mean.size(0)).fill(-3e38)));
    writeSafetensors(file, tensors, metadata);
    const folder = tmp("diverged-images");
    for (let i = 0; i < 3; i++)
      await sharp(Buffer.alloc(12 * 12 * 3, 60 * i), { raw: { width: 12, height: 12, channels: 3 } })
        .png()
        .toFile(join(folder, `${i}.png`));
    const outDir = tmp("diverged-out");
    const refusals: [string, string[]][] = [
      ["embed", ["embed", "--run", diverged, "--images", folder, "--out", join(outDir, "h.npy")]],
      ["index", ["index", "--run", diverged, "--images", folder, "--out", join(outDir, "photos.index")]],
      ["export", ["export", "--run", diverged, "--out", join(outDir, "encoder.safetensors")]],
      ["export", ["export", "--run", diverged, "--format", "onnx", "--out", join(outDir, "encoder.onnx")]],
    ];
    for (const [what, argv] of refusals) {
      const r = await runCli(argv);
      assert.equal(r.code, 1, `${argv.join(" ")}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(
          `${what} .*: 3 of 3 inputs give NaN or infinite features|${what} .*: images give NaN or infinite features|${what} .*: h: 8 of 8 inputs give NaN or infinite features`,
        ),
      );
      assert.match(r.stderr, /its weights diverged\. Use an earlier checkpoint, or allowNonFinite to accept them|allowNonFinite to index the others/);
      assert.match(r.stderr, /allowNonFinite is --allow-non-finite on the command line/);
      assert.doesNotMatch(r.stderr, /internal error/);
    }
    assert.deepEqual(readdirSync(outDir), [], "a refused command writes nothing");
    const embedded = await runCli(["embed", "--run", diverged, "--images", folder, "--out", join(outDir, "h.npy"), "--allow-non-finite"]);
    assert.equal(embedded.code, 0, embedded.stderr);
    assert.ok(readNpy(join(outDir, "h.npy")).data.some((v) => !Number.isFinite(v)));
    const indexed = await runCli(["index", "--run", diverged, "--images", folder, "--out", join(outDir, "photos.index"), "--allow-non-finite"]);
    assert.notEqual(indexed.code, 0, "nothing finite to index is still an error");
    assert.match(indexed.stderr, /its features are NaN or infinite/);
    assert.ok(!existsSync(join(outDir, "photos.index")));
  });

  test("embed writes the array and its sidecar together: when the sidecar cannot be written, neither is left", async () => {
    const dir = tmp("pair");
    mkdirSync(join(dir, "pair.json")); // the sidecar's path is taken by a folder
    const r = await runCli(["embed", "--run", run, "--split", "test", "--out", join(dir, "pair.npy")]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /pair\.json/);
    assert.deepEqual(readdirSync(dir), ["pair.json"], "no pair.npy and no temporary left");
    assert.doesNotMatch(r.stderr, /internal error/);
  });

  test("embed: a folder without images, and a bad --out, are clear errors", async () => {
    const empty = tmp("no-images");
    const r = await runCli(["embed", "--run", run, "--images", empty, "--out", join(empty, "h.npy")]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(empty));
    const bad = await runCli(["embed", "--run", run, "--out", "h.txt"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--out must end in \.npy/);
  });
});
