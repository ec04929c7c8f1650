/**
 * simclr export --format transformers-js: the folder loads in @huggingface/transformers
 * (offline, local files only) with pipeline("image-feature-extraction", DIR), and its features
 * equal libtorch's h on the same images: a square image larger than the input side (the resize
 * path, which matches the loader's pixel for pixel), and a non-square one (resize, then the
 * centre crop), compared on the pipeline's own preprocessed pixels.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { before, describe, test } from "node:test";
import sharp from "sharp";
import { evaluationConfig, extractFeatures, loadConfig, loadEncoder, loadImageFolder, noGrad, pretrain, tensor } from "../../src/index.js";
import { maxAbsDiff, quiet, runCli } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-tfjs-${name}-`));

/** A w x h RGB image with a smooth, seeded pattern (so resizing has something to do). */
function pattern(width: number, height: number, seed: number): Buffer {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) px[(y * width + x) * 3 + c] = Math.round(127.5 + 127.5 * Math.sin((x * (c + 1) + y * (3 - c)) / (3 + seed) + seed));
  return px;
}

async function png(path: string, width: number, height: number, seed: number): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  await sharp(pattern(width, height, seed), { raw: { width, height, channels: 3 } })
    .png()
    .toFile(path);
  return path;
}

describe("export --format transformers-js", () => {
  let run = "";
  before(async () => {
    const images = tmp("train");
    for (let i = 0; i < 64; i++) await png(join(images, i % 2 === 0 ? "a" : "b", `${i}.png`), 20, 20, i);
    run = tmp("run");
    const set = [
      "data.name=image-folder",
      `data.path=${images}`,
      "data.size=16",
      "augment.preset=cifar",
      "model.width=4",
      "train.batchSize=32",
      "train.epochs=1",
      "monitor.knnEvery=0",
    ];
    (await pretrain(run, loadConfig({ set }), { progress: quiet(), handleSignals: false })).model.dispose();
  });

  test("loads in @huggingface/transformers offline, and its features are libtorch's h", async () => {
    const dir = join(tmp("export"), "simclr-encoder");
    const r = await runCli(["export", "--run", run, "--format", "transformers-js", "--out", dir]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ["config.json", "preprocessor_config.json", join("onnx", "model.onnx")]) assert.ok(existsSync(join(dir, f)), f);
    const result = JSON.parse(r.stdout) as { check: string; max_abs_diff_pooler_output: number };
    assert.ok(result.max_abs_diff_pooler_output < 1e-4, result.check);
    const pre = JSON.parse(readFileSync(join(dir, "preprocessor_config.json"), "utf-8")) as Record<string, unknown>;
    assert.deepEqual(pre.size, { shortest_edge: 16 });
    assert.equal(pre.do_normalize, false);

    const { env, pipeline, AutoImageProcessor, RawImage } = await import("@huggingface/transformers");
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dirname(dir);
    const extractor = await pipeline("image-feature-extraction", basename(dir), { dtype: "fp32", local_files_only: true });
    const { encoder } = loadEncoder({ config: evaluationConfig(run), inChannels: 3, runDir: run });
    encoder.eval();

    // A square 40x40 image: the pipeline's resize (sharp, Lanczos-3) is the loader's.
    const queries = tmp("queries");
    const square = await png(join(queries, "square", "q.png"), 40, 40, 7);
    const pooled = (await extractor(square, { pool: true })) as { dims: number[]; data: Float32Array };
    assert.deepEqual(pooled.dims, [1, encoder.featureDim]);
    const loaded = await loadImageFolder({ path: join(queries, "square"), size: 16, channels: 3, cacheDir: null });
    const h = noGrad(() => extractFeatures(encoder, loaded.images)); // (1, D)
    assert.ok(maxAbsDiff(pooled.data, h.dataAsNumbers()) < 1e-4, `square: max |diff| ${maxAbsDiff(pooled.data, h.dataAsNumbers())}`);
    const hidden = (await extractor(square)) as { data: Float32Array };
    assert.ok(maxAbsDiff(hidden.data, pooled.data) === 0, "last_hidden_state is h too");

    // A non-square 48x30 image: the pipeline resizes the shorter edge and crops the centre.
    // Its own preprocessed pixels, through libtorch, give its features.
    const wide = await png(join(queries, "wide", "q.png"), 48, 30, 11);
    const viaPipeline = (await extractor(wide, { pool: true })) as { data: Float32Array };
    const processor = await AutoImageProcessor.from_pretrained(basename(dir), { local_files_only: true });
    const { pixel_values } = (await processor(await RawImage.read(wide))) as { pixel_values: { dims: number[]; data: Float32Array } };
    assert.deepEqual(pixel_values.dims, [1, 3, 16, 16]);
    const same = noGrad(() => extractFeatures(encoder, tensor(pixel_values.data, { shape: pixel_values.dims })));
    assert.ok(maxAbsDiff(viaPipeline.data, same.dataAsNumbers()) < 1e-4, `non-square: max |diff| ${maxAbsDiff(viaPipeline.data, same.dataAsNumbers())}`);
    // ... and the loader's own decode of it lands close (its crop may round one column apart)
    const ours = await loadImageFolder({ path: join(queries, "wide"), size: 16, channels: 3, cacheDir: null });
    const hOurs = noGrad(() => extractFeatures(encoder, ours.images)).dataAsNumbers();
    const dot = Array.from(viaPipeline.data).reduce((s, v, i) => s + v * (hOurs[i] as number), 0);
    const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));
    assert.ok(dot / (norm(viaPipeline.data) * norm(hOurs)) > 0.99, "the loader's decode of the non-square image gives nearly the same h");
    await extractor.dispose();
  });

  test("a 1-channel encoder takes RGB and averages it: a gray image gives the loader's h", async () => {
    const data = writeSyntheticIdx(join(tmp("gray-data"), "synthetic"), 256);
    const gray = tmp("gray-run");
    (
      await pretrain(gray, loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0"]) }), { progress: quiet(), handleSignals: false })
    ).model.dispose();
    const dir = join(tmp("gray-export"), "gray-encoder");
    const r = await runCli(["export", "--run", gray, "--format", "transformers-js", "--out", dir]);
    assert.equal(r.code, 0, r.stderr);
    const { env, pipeline } = await import("@huggingface/transformers");
    env.allowRemoteModels = false;
    env.localModelPath = dirname(dir);
    const extractor = await pipeline("image-feature-extraction", basename(dir), { dtype: "fp32", local_files_only: true });
    const folder = tmp("gray-query");
    const side = 28;
    const px = Buffer.alloc(side * side * 3);
    for (let i = 0; i < side * side; i++) px.fill((i * 37) % 256, i * 3, i * 3 + 3); // R = G = B
    await sharp(px, { raw: { width: side, height: side, channels: 3 } })
      .png()
      .toFile(join(folder, "q.png"));
    const got = (await extractor(join(folder, "q.png"), { pool: true })) as { data: Float32Array };
    const { encoder } = loadEncoder({ config: evaluationConfig(gray), inChannels: 1, runDir: gray });
    const loaded = await loadImageFolder({ path: folder, size: side, channels: 1, cacheDir: null });
    const h = noGrad(() => extractFeatures(encoder, loaded.images));
    assert.ok(maxAbsDiff(got.data, h.dataAsNumbers()) < 1e-4, `gray: max |diff| ${maxAbsDiff(got.data, h.dataAsNumbers())}`);
    await extractor.dispose();
  });

  test("bad input: --part encoder+head is refused (the folder holds h only); --out naming a file; a stale fp16 model is removed", async () => {
    const r = await runCli(["export", "--run", run, "--format", "transformers-js", "--part", "encoder+head", "--out", join(tmp("x"), "d")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--format transformers-js exports the encoder \(h\) only/);
    const file = join(tmp("file"), "model.onnx");
    writeFileSync(file, "an earlier export");
    const onFile = await runCli(["export", "--run", run, "--format", "transformers-js", "--out", file]);
    assert.equal(onFile.code, 1);
    assert.match(onFile.stderr, /is a file; the transformers\.js export is a folder/);
    assert.doesNotMatch(onFile.stderr, /internal error/);
    const dir = join(tmp("again"), "enc");
    assert.equal((await runCli(["export", "--run", run, "--format", "transformers-js", "--fp16", "--no-check", "--out", dir])).code, 0);
    assert.ok(existsSync(join(dir, "onnx", "model_fp16.onnx")));
    assert.equal((await runCli(["export", "--run", run, "--format", "transformers-js", "--no-check", "--out", dir])).code, 0);
    assert.ok(!existsSync(join(dir, "onnx", "model_fp16.onnx")), "an export without --fp16 leaves no float16 model of an earlier one");
  });
});
