/** TensorBoard event files: TFRecord framing with masked CRC32C, Event protobufs, one scalar per metric. */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DataError, ProgressReporter, loadConfig, maskedCrc32c, pretrain, readTfEvents } from "../../src/index.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const quiet = () => new ProgressReporter({ write: () => true, isTTY: false } as unknown as NodeJS.WriteStream, 1_000_000);

test("masked CRC32C is TFRecord's: rotate right 15 and add 0xa282ead8", () => {
  // crc32c("123456789") = 0xe3069283 (the standard check value)
  const crc = 0xe3069283;
  assert.equal(maskedCrc32c(Buffer.from("123456789")), (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0);
});

test("pretraining writes TensorBoard scalars equal to metrics.jsonl; a corrupted record is a clear error", async () => {
  const root = mkdtempSync(join(tmpdir(), "simclr-tb-"));
  const data = writeSyntheticIdx(join(root, "data"), 256);
  const run = join(root, "run");
  await pretrain(loadConfig({ set: syntheticSet(data, ["train.epochs=2", "monitor.knnSamples=100"]) }), { outDir: run, progress: quiet(), handleSignals: false });
  const files = readdirSync(join(run, "tensorboard"));
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^events\.out\.tfevents\.\d+\./);
  const path = join(run, "tensorboard", files[0]!);
  const events = readTfEvents(path);
  assert.equal(events[0]!.fileVersion, "brain.Event:2");
  const scalar = (tag: string) => new Map(events.flatMap((e) => e.values.filter((v) => v.tag === tag).map((v) => [e.step, v.simpleValue!] as const)));
  const lines = readFileSync(join(run, "metrics.jsonl"), "utf-8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
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
  // flip one byte inside the second record's data
  const bytes = readFileSync(path);
  const firstLength = Number(bytes.readBigUInt64LE(0));
  const second = 12 + firstLength + 4;
  bytes.writeUInt8((bytes.readUInt8(second + 14) ^ 0xff) & 0xff, second + 14);
  const broken = join(root, "broken.tfevents");
  writeFileSync(broken, bytes);
  assert.throws(() => readTfEvents(broken), (e: unknown) => e instanceof DataError && new RegExp(`record at byte ${second}: the data's CRC does not match`).test(e.message));
});
