/**
 * Resume trusts only verified state (issue 12, group 2): the config stored in the checkpoint is
 * the one used (config.yaml is a readable copy, restored when lost), `latest` must name a
 * checkpoint of this run, and the saved state's fields are checked with the file and field named.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { CheckpointError, loadConfig, pretrain, readSafetensors, resume, tensor, writeSafetensors } from "../../src/index.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";
import { collecting } from "../helpers.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-${name}-`));
const messages: string[] = [];
const quiet = () => collecting(messages);
const opts = (extra: Record<string, unknown> = {}) => ({ progress: quiet(), handleSignals: false, ...extra });

describe("resume verifies what it reads", () => {
  let stopped = ""; // a run stopped mid-epoch (step checkpoint with a permutation)
  let full = ""; // the same run uninterrupted
  before(async () => {
    const data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
    const config = loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0"]) });
    stopped = join(tmp("stopped"), "run");
    (await pretrain(stopped, config, opts({ stopAfterSteps: 2 }))).model.dispose();
    full = join(tmp("full"), "run");
    (await pretrain(full, config, opts())).model.dispose();
  });

  const copy = () => {
    const dir = join(tmp("copy"), "run");
    cpSync(stopped, dir, { recursive: true });
    return dir;
  };
  const lossesOf = (dir: string) =>
    readFileSync(join(dir, "metrics.jsonl"), "utf-8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { loss?: number })
      .filter((l) => l.loss !== undefined)
      .map((l) => l.loss);

  const epochLines = (dir: string) =>
    readFileSync(join(dir, "metrics.jsonl"), "utf-8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { epoch_loss?: number; step: number })
      .filter((l) => l.epoch_loss !== undefined)
      .map((l) => [l.step, l.epoch_loss]);

  test("config.yaml deleted, emptied or corrupted: the checkpoint's config is used and config.yaml rewritten from it", async () => {
    const original = readFileSync(join(stopped, "config.yaml"), "utf-8");
    for (const damage of [
      (d: string) => rmSync(join(d, "config.yaml")),
      (d: string) => writeFileSync(join(d, "config.yaml"), ""),
      (d: string) => writeFileSync(join(d, "config.yaml"), "model:\n  width: 999\n"),
    ]) {
      const dir = copy();
      damage(dir);
      messages.length = 0;
      (await resume(dir, opts())).model.dispose();
      assert.equal(readFileSync(join(dir, "config.yaml"), "utf-8"), original);
      assert.ok(
        messages.some((m) => /config\.yaml (was missing|differed from the checkpoint's config): rewritten from .*state\.json/.test(m)),
        messages.join(""),
      );
      assert.deepEqual(lossesOf(dir), lossesOf(full), "the resumed run follows the uninterrupted one");
      assert.deepEqual(epochLines(dir), epochLines(full), "the epoch summary averages all of the epoch's steps, before and after the interruption");
    }
  });

  test("latest must name a checkpoint folder of this run", async () => {
    for (const [content, pattern] of [
      ["../../other/checkpoints/epoch-0001", /names '\.\.\/\.\.\/other\/checkpoints\/epoch-0001', which is not a checkpoint of this run/],
      ["/etc", /names '\/etc', which is not a checkpoint of this run/],
      ["step-9999999", /names step-9999999, which does not exist/],
    ] as const) {
      const dir = copy();
      writeFileSync(join(dir, "checkpoints", "latest"), `${content}\n`);
      await assert.rejects(
        resume(dir, opts()),
        (e: unknown) => e instanceof CheckpointError && e.path === join(dir, "checkpoints", "latest") && pattern.test(e.message),
      );
    }
  });

  test("state.json fields are checked, naming the file and the field", async () => {
    const cases: [string, (s: Record<string, unknown>) => void, RegExp][] = [
      ["a 3-byte rngState", (s) => (s.rngState = "AAAA"), /state\.json: rngState must be \d+ bytes of base64 .* got 3 bytes/],
      ["rngState not base64", (s) => (s.rngState = "not base64!"), /state\.json: rngState must be/],
      ["epoch 'x'", (s) => (s.epoch = "x"), /state\.json: epoch must be a non-negative integer, got "x"/],
      ["a negative step", (s) => (s.globalStep = -3), /state\.json: globalStep must be a non-negative integer/],
      ["epochLossSum NaN", (s) => (s.epochLossSum = "NaN"), /state\.json: epochLossSum must be a non-negative number/],
      ["an unknown config key", (s) => ((s.config as Record<string, unknown>)["model.depth"] = 18), /state\.json: unknown config key 'model\.depth'/],
      ["a config value out of range", (s) => ((s.config as Record<string, unknown>)["model.width"] = 0), /state\.json: model\.width must be >= 1/],
    ];
    for (const [what, damage, pattern] of cases) {
      const dir = copy();
      const latest = readFileSync(join(dir, "checkpoints", "latest"), "utf-8").trim();
      const path = join(dir, "checkpoints", latest, "state.json");
      const state = JSON.parse(readFileSync(path, "utf-8")) as Record<string, unknown>;
      damage(state);
      writeFileSync(path, JSON.stringify(state));
      await assert.rejects(resume(dir, opts()), (e: unknown) => e instanceof Error && pattern.test(e.message), what);
    }
  });

  test("a saved data order that is not a permutation of the data set is refused", async () => {
    const dir = copy();
    const latest = readFileSync(join(dir, "checkpoints", "latest"), "utf-8").trim();
    const file = join(dir, "checkpoints", latest, "loader.safetensors");
    const { tensors } = readSafetensors(file);
    const order = tensors.get("order")!;
    const values = Array.from(order.dataAsNumbers());
    values[5] = 100000; // beyond the 256 images
    writeSafetensors(file, new Map([["order", tensor(values, { dtype: "int64" })]]));
    await assert.rejects(
      resume(dir, opts()),
      (e: unknown) => e instanceof CheckpointError && /not a permutation of the 256 images \(it holds 100000\)/.test(e.message),
    );
    values[5] = values[6]!; // a repeat
    writeSafetensors(file, new Map([["order", tensor(values, { dtype: "int64" })]]));
    await assert.rejects(resume(dir, opts()), (e: unknown) => e instanceof CheckpointError && /not a permutation/.test(e.message));
  });
});
