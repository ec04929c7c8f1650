/** The jobs free what they make: after a job, only what it returns is alive. */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  embed,
  evaluate,
  evaluationConfig,
  exportOnnx,
  exportSafetensors,
  finetune,
  liveTensorCount,
  loadConfig,
  pretrain,
  trainSupervised,
} from "../src/index.js";
import { SearchSession, indexImages } from "../src/entry/search.js";
import { runReport } from "../src/entry/report.js";
import { syntheticSet, writeSyntheticIdx } from "./synthetic.js";
import { writePngFolder } from "./search/fixture.js";
import { quiet } from "./helpers.js";

test("pretrain, evaluate (also on a label subset), finetune, supervised (also on its subset), export, embed and report leave no tensors behind but the returned model", async () => {
  const root = mkdtempSync(join(tmpdir(), "simclr-jobs-"));
  const data = writeSyntheticIdx(join(root, "data"), 256);
  const config = loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnSamples=100"]) });
  const before = liveTensorCount();
  const { model } = await pretrain(join(root, "run"), config, { progress: quiet(), handleSignals: false });
  assert.ok(liveTensorCount() > before, "the returned model is alive");
  model.dispose();
  assert.equal(liveTensorCount(), before, "pretrain");
  const evalConfig = evaluationConfig(join(root, "run"), { set: ["eval.epochs=1", "finetune.labels=5-per-class", "finetune.epochs=1"] });
  for (const protocol of ["knn", "linear"] as const) {
    await evaluate(join(root, "run"), evalConfig, { protocol, progress: quiet() });
    assert.equal(liveTensorCount(), before, `evaluate ${protocol}`);
  }
  await evaluate(join(root, "run"), { ...evalConfig, eval: { ...evalConfig.eval, protocol: "paper" } }, { protocol: "linear", progress: quiet() });
  assert.equal(liveTensorCount(), before, "evaluate linear (paper)");
  await evaluate(join(root, "run"), { ...evalConfig, eval: { ...evalConfig.eval, labels: "10-per-class" } }, { protocol: "linear", progress: quiet() });
  assert.equal(liveTensorCount(), before, "evaluate linear on a label subset");
  const tuned = await finetune(join(root, "run"), evalConfig, { progress: quiet() });
  assert.equal(liveTensorCount(), before, "finetune");
  // the supervised twin on exactly the fine-tuning's labels
  const twin = await trainSupervised(join(root, "twin"), loadConfig({ set: syntheticSet(data, ["supervised.epochs=1"]) }), {
    subsetFile: String(tuned.subset),
    progress: quiet(),
  });
  assert.equal(twin.protocol, "supervised-5-per-class");
  assert.equal(twin.train_size, tuned.train_size);
  assert.equal(liveTensorCount(), before, "supervised on a subset");
  exportSafetensors(join(root, "run"), evalConfig, { out: join(root, "encoder.safetensors") });
  assert.equal(liveTensorCount(), before, "export safetensors");
  await exportOnnx(join(root, "run"), evalConfig, { out: join(root, "encoder.onnx"), part: "encoder+head" });
  assert.equal(liveTensorCount(), before, "export onnx");
  await embed(join(root, "run"), evalConfig, { out: join(root, "h.npy"), progress: quiet() });
  assert.equal(liveTensorCount(), before, "embed");
  await runReport(join(root, "run"), evalConfig, { out: join(root, "report.html"), mapPoints: 50, progress: quiet() });
  assert.equal(liveTensorCount(), before, "report");
  const images = await writePngFolder(data, 20);
  await indexImages(join(root, "run"), evalConfig, { images, out: join(root, "photos.index"), progress: quiet() });
  assert.equal(liveTensorCount(), before, "index");
  const session = SearchSession.open(join(root, "photos.index"));
  await session.search(join(images, session.index.files[3]!.path), 5);
  session.neighbors(2, 5);
  session.duplicates(0.99);
  session.dispose();
  assert.equal(liveTensorCount(), before, "search session");
  await trainSupervised(join(root, "supervised"), loadConfig({ set: syntheticSet(data, ["supervised.epochs=1"]) }), { progress: quiet() });
  assert.equal(liveTensorCount(), before, "supervised");
});
