import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { runCli } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const run = runCli;

describe("simclr command line", () => {
  test("bench prints one JSON line with the promised fields", async () => {
    const r = await run(["bench", "--steps", "1", "--warmup", "0", "--set", "model.width=4", "--set", "train.batchSize=16"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const out = JSON.parse(lines[0]!) as Record<string, unknown>;
    for (const k of ["views_per_s", "augment_views_per_s", "step_ms"]) assert.equal(typeof out[k], "number", k);
    // the figures agree with each other and with the configured shape: 2 views of 16 images per step
    const {
      views_per_s: rate,
      step_ms: ms,
      config,
    } = out as { views_per_s: number; step_ms: number; config: { batch: number; image: number[]; width: number } };
    assert.ok(ms > 0 && Math.abs(rate - (2 * 16) / (ms / 1000)) <= 0.01 * rate + 0.1, `${rate} views/s at ${ms} ms per step`);
    assert.deepEqual([config.batch, config.image, config.width], [16, [1, 28, 28], 4]);
  });

  test("augment-preview writes a PNG grid of images x (original + views)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "simclr-preview-"));
    const data = writeSyntheticIdx(join(dir, "data"), 20);
    const out = join(dir, "grid.png");
    const r = await run(["augment-preview", "--out", out, "--images", "3", "--views", "4", "--cell", "40", ...syntheticSet(data).flatMap((x) => ["--set", x])]);
    assert.equal(r.code, 0, r.stderr);
    const meta = await sharp(out).metadata();
    assert.equal(meta.format, "png");
    assert.equal(meta.width, 5 * 44 + 4);
    assert.equal(meta.height, 3 * 44 + 4);
  });

  test("--skip-bad skips an unreadable image and counts it; without it the error names the file", async () => {
    const root = mkdtempSync(join(tmpdir(), "simclr-cli-folder-"));
    mkdirSync(join(root, "a"));
    mkdirSync(join(root, "b"));
    for (let i = 0; i < 10; i++) {
      for (const c of ["a", "b"]) {
        await sharp(Buffer.alloc(16 * 16 * 3, i * 20 + (c === "a" ? 0 : 7)), { raw: { width: 16, height: 16, channels: 3 } })
          .png()
          .toFile(join(root, c, `${i}.png`));
      }
    }
    writeFileSync(join(root, "a", "broken.jpg"), "not a jpeg");
    const common = [
      "--set",
      "data.name=image-folder",
      "--set",
      `data.path=${root}`,
      "--set",
      "data.size=16",
      "--set",
      "train.batchSize=4",
      "--steps",
      "1",
      "--warmup",
      "0",
      "--set",
      "model.width=4",
      "--set",
      "augment.preset=cifar",
    ];
    const out = join(mkdtempSync(join(tmpdir(), "simclr-cli-run-")), "run");
    const failed = await run([
      "pretrain",
      "--out",
      out,
      ...common.filter((a) => a !== "--steps" && a !== "1" && a !== "--warmup" && a !== "0"),
      "--set",
      "train.epochs=1",
    ]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /1 of 21 images could not be decoded/);
    assert.match(failed.stderr, /broken\.jpg/);
    assert.match(failed.stderr, /data\.skipBad is --skip-bad on the command line/);
    const skipped = await run([
      "pretrain",
      "--out",
      `${out}2`,
      "--skip-bad",
      ...common.filter((a) => a !== "--steps" && a !== "1" && a !== "--warmup" && a !== "0"),
      "--set",
      "train.epochs=1",
    ]);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.match(skipped.stderr, /skipped 1 unreadable image/);
  });

  test("unknown commands and options are usage errors (exit 2)", async () => {
    const r = await run(["pretrian"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'pretrian'/);
    const o = await run(["bench", "--stepz", "3"]);
    assert.equal(o.code, 2);
    assert.match(o.stderr, /stepz/);
    const steps = await run(["bench", "--steps", "abc"]);
    assert.equal(steps.code, 2);
    assert.match(steps.stderr, /--steps must be an integer >= 1, got 'abc'/);
    const views = await run(["augment-preview", "--out", "x.png", "--views", "0"]);
    assert.equal(views.code, 2);
    assert.match(views.stderr, /--views must be an integer >= 1, got '0'/);
    const h = await run(["--help"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /simclr pretrain --out DIR/);
  });
});
