/** TensorBoard event files: TFRecord framing with masked CRC32C, Event protobufs, one scalar per metric. */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { DataError, evaluationConfig, finetune, loadConfig, maskedCrc32c, pretrain, readTfEvents, trainSupervised } from "../../src/index.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";
import { quiet } from "../helpers.js";

test("masked CRC32C is TFRecord's: rotate right 15 and add 0xa282ead8", () => {
  // crc32c("123456789") = 0xe3069283 (the standard check value)
  const crc = 0xe3069283;
  assert.equal(maskedCrc32c(Buffer.from("123456789")), (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0);
});

test("pretraining writes TensorBoard scalars equal to metrics.jsonl; a corrupted record is a clear error", async () => {
  const root = mkdtempSync(join(tmpdir(), "simclr-tb-"));
  const data = writeSyntheticIdx(join(root, "data"), 256);
  const run = join(root, "run");
  await pretrain(run, loadConfig({ set: syntheticSet(data, ["train.epochs=2", "monitor.knnSamples=100"]) }), { progress: quiet(), handleSignals: false });
  const files = readdirSync(join(run, "tensorboard"));
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^events\.out\.tfevents\.\d+\./);
  const path = join(run, "tensorboard", files[0]!);
  const events = readTfEvents(path);
  assert.equal(events[0]!.fileVersion, "brain.Event:2");
  const scalar = (tag: string) => new Map(events.flatMap((e) => e.values.filter((v) => v.tag === tag).map((v) => [e.step, v.simpleValue!] as const)));
  const lines = readFileSync(join(run, "metrics.jsonl"), "utf-8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, number>);
  const losses = lines.filter((l) => l.loss !== undefined);
  assert.equal(scalar("train/loss").size, losses.length);
  for (const l of losses) assert.equal(scalar("train/loss").get(l.step!), Math.fround(l.loss!));
  const epochs = lines.filter((l) => l.epoch_loss !== undefined);
  assert.equal(scalar("epoch/knn_top1").size, 2);
  for (const e of epochs) {
    assert.equal(scalar("epoch/knn_top1").get(e.step!), Math.fround(e.knn_top1!));
    assert.equal(scalar("epoch/online_probe_accuracy").get(e.step!), Math.fround(e.probe_acc!));
  }
  assert.ok(scalar("train/lr").size === losses.length && scalar("train/views_per_second").size === losses.length);

  // the augmented views: one PNG image at step 0, the same bytes as DIR/augmented-views.png
  const images = events.flatMap((e) => e.values.filter((v) => v.image !== undefined).map((v) => ({ step: e.step, tag: v.tag, image: v.image! })));
  assert.equal(images.length, 1);
  assert.equal(images[0]!.step, 0);
  assert.equal(images[0]!.tag, "augment/views");
  const png = readFileSync(join(run, "augmented-views.png"));
  assert.deepEqual(Buffer.from(images[0]!.image.encoded), png);
  const meta = await sharp(png).metadata();
  assert.equal(images[0]!.image.width, meta.width);
  assert.equal(images[0]!.image.height, meta.height);
  assert.equal(images[0]!.image.colorspace, 3);
  // 8 rows of 48 px cells and 4 px gaps; 5 columns (the original and 4 views)
  assert.deepEqual([meta.width, meta.height], [5 * 52 + 4, 8 * 52 + 4]);

  // fine-tuning and the supervised baseline log their epochs beside it
  const config = evaluationConfig(run, { set: ["finetune.epochs=2", "finetune.labels=10%"] });
  const tuned = await finetune(run, config, { progress: quiet() });
  const ftDir = readdirSync(join(run, "tensorboard")).filter((f) => f.startsWith("finetune-"));
  assert.deepEqual(ftDir, ["finetune-10pct-seed0"]);
  const ftEvents = readTfEvents(join(run, "tensorboard", ftDir[0]!, readdirSync(join(run, "tensorboard", ftDir[0]!))[0]!));
  const ft = (tag: string) => ftEvents.flatMap((e) => e.values.filter((v) => v.tag === tag).map((v) => [e.step, v.simpleValue!]));
  assert.deepEqual(
    ft("finetune/loss").map(([step]) => step),
    [1, 2],
  );
  assert.equal(ft("finetune/lr").length, 2);
  assert.deepEqual(ft("finetune/test_top1"), [[2, Math.fround(tuned.top1)]]);
  const sup = join(root, "supervised");
  const baseline = await trainSupervised(sup, loadConfig({ set: syntheticSet(data, ["supervised.epochs=1"]) }), { progress: quiet() });
  const supEvents = readTfEvents(join(sup, "tensorboard", readdirSync(join(sup, "tensorboard"))[0]!));
  const supTags = supEvents.flatMap((e) => e.values.map((v) => v.tag));
  assert.deepEqual(supTags.sort(), ["supervised/images_per_second", "supervised/loss", "supervised/lr", "supervised/test_top1", "supervised/test_top5"]);
  assert.equal(supEvents.flatMap((e) => e.values).find((v) => v.tag === "supervised/test_top1")?.simpleValue, Math.fround(baseline.top1));
  // flip one byte inside the second record's data
  const bytes = readFileSync(path);
  const firstLength = Number(bytes.readBigUInt64LE(0));
  const second = 12 + firstLength + 4;
  bytes.writeUInt8((bytes.readUInt8(second + 14) ^ 0xff) & 0xff, second + 14);
  const broken = join(root, "broken.tfevents");
  writeFileSync(broken, bytes);
  assert.throws(
    () => readTfEvents(broken),
    (e: unknown) => e instanceof DataError && new RegExp(`record at byte ${second}: the data's CRC does not match`).test(e.message),
  );
});
