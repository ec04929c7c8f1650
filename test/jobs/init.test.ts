/**
 * pretrain --init (model.init): the encoder starts from weights trained elsewhere, the head
 * fresh; DIR/init.json records the file. At learning rate 0 one step changes no parameter, so
 * the run's first checkpoint holds the file's weights exactly (BN's running statistics move
 * with the batch, as in any training step, and are left out of the comparison).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { CheckpointError, exportSafetensors, latestCheckpoint, loadConfig, pretrain, readSafetensors } from "../../src/index.js";
import { quiet, runCli } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-init-${name}-`));
const opts = () => ({ progress: quiet(), handleSignals: false });

describe("pretrain --init", () => {
  let data = "";
  let source = "";
  before(async () => {
    data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
    source = tmp("source");
    (await pretrain(source, loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0"]) }), opts())).model.dispose();
  });

  const parameters = (file: string, prefix = "") =>
    new Map(
      [...readSafetensors(file).tensors]
        .filter(([k]) => k.startsWith(prefix) && !/running_|num_batches/.test(k))
        .map(([k, t]) => [k.slice(prefix.length), Array.from(t.dataAsNumbers())]),
    );

  for (const format of ["torchvision", "checkpoint"] as const) {
    test(`from ${format === "torchvision" ? "an exported encoder (torchvision's names)" : "a run's checkpoint"}: step 0's encoder is the file's, the head is fresh, init.json says where it came from`, async () => {
      const file =
        format === "torchvision"
          ? exportSafetensors(source, loadConfig({ set: syntheticSet(data, ["train.epochs=1"]) }), { out: join(tmp("export"), "encoder.safetensors") }).out
          : join(latestCheckpoint(source)!, "model.safetensors");
      const run = tmp(`run-${format}`);
      const config = loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0", "optim.lr=0", `model.init=${file}`, "train.seed=5"]) });
      (await pretrain(run, config, { ...opts(), stopAfterSteps: 1 })).model.dispose();
      const saved = join(latestCheckpoint(run)!, "model.safetensors");
      const want = parameters(file, format === "checkpoint" ? "encoder." : "");
      const got = parameters(saved, "encoder.");
      assert.ok(want.size > 10);
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
      for (const [k, v] of want) assert.deepEqual(got.get(k), v, k);
      if (format === "checkpoint") {
        // the head is the new run's own (train.seed 5), not the source's
        const head = parameters(file, "head.");
        const fresh = parameters(saved, "head.");
        assert.ok(
          [...head].some(([k, v]) => JSON.stringify(v) !== JSON.stringify(fresh.get(k))),
          "the head starts fresh",
        );
      }
      const init = JSON.parse(readFileSync(join(run, "init.json"), "utf-8")) as { sha256: string; format: string; dropped: string[] };
      assert.equal(init.sha256, createHash("sha256").update(readFileSync(file)).digest("hex"));
      assert.equal(init.format, format);
      if (format === "checkpoint") assert.ok(init.dropped.every((k) => k.startsWith("head.")) && init.dropped.length > 0);
    });
  }

  test("an export with its head (--part encoder+head) initialises the encoder; its head.* is left out", async () => {
    const file = exportSafetensors(source, loadConfig({ set: syntheticSet(data, ["train.epochs=1"]) }), {
      out: join(tmp("export-head"), "model.safetensors"),
      part: "encoder+head",
    }).out;
    const run = tmp("run-head");
    (
      await pretrain(run, loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0", "optim.lr=0", `model.init=${file}`]) }), {
        ...opts(),
        stopAfterSteps: 1,
      })
    ).model.dispose();
    const init = JSON.parse(readFileSync(join(run, "init.json"), "utf-8")) as { format: string; dropped: string[] };
    assert.equal(init.format, "torchvision");
    assert.ok(init.dropped.length > 0 && init.dropped.every((k) => k.startsWith("head.")));
  });

  test("bad input: a file that does not exist, weights of another width, --init with --resume", async () => {
    await assert.rejects(
      pretrain(tmp("missing"), loadConfig({ set: syntheticSet(data, [`model.init=${join(tmp("none"), "w.safetensors")}`]) }), opts()),
      (e: Error) => e instanceof CheckpointError && /model\.init: .*w\.safetensors does not exist/.test(e.message),
    );
    const file = join(latestCheckpoint(source)!, "model.safetensors");
    await assert.rejects(
      pretrain(tmp("width"), loadConfig({ set: syntheticSet(data, ["model.width=8", `model.init=${file}`]) }), opts()),
      (e: Error) => e instanceof CheckpointError && /model\.init: .* does not fit resnet18 width 8, CIFAR stem .*conv1\.weight/.test(e.message),
    );
    const r = await runCli(["pretrain", "--out", source, "--resume", "--init", file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--resume continues with the run's saved config: drop --config\/--skip-bad\/--init/);
  });
});
