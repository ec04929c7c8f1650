/**
 * End to end on CIFAR-10 as JPEGs (shared/datasets/cifar10-jpg.tar.gz beside the repository,
 * or $SIMCLR_CIFAR10_JPG): the folder reads in torchvision's class order, and a short
 * pretraining gives a kNN accuracy above chance (10%) by a stated margin. Missing data is a
 * failure here, not a skip.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import {
  CIFAR10_CLASSES,
  cifar10JpgRoot,
  evaluate,
  evaluationConfig,
  loadConfig,
  loadImageFolder,
  pretrain,
  sharedCifar10JpgAvailable,
} from "../../src/index.js";
import { quiet } from "../helpers.js";

const CHANCE = 0.1;

before(() => {
  assert.ok(
    sharedCifar10JpgAvailable(),
    "the CIFAR-10 JPEG tarball is missing: put shared/datasets/cifar10-jpg.tar.gz beside the repository or set SIMCLR_CIFAR10_JPG",
  );
});

describe("CIFAR-10 (JPEG folder)", () => {
  test("the test split reads through cifar10JpgRoot and loadImageFolder", async () => {
    const root = cifar10JpgRoot();
    assert.ok(existsSync(join(root, "train")) && existsSync(join(root, "test")));
    const ds = await loadImageFolder({ path: join(root, "test"), size: 32, limit: 200 });
    assert.deepEqual(ds.classes, CIFAR10_CLASSES, "torchvision's class order, airplane..truck");
    assert.deepEqual(ds.images.shape, [200, 3, 32, 32]);
    const counts = new Array<number>(10).fill(0);
    for (const label of ds.labels.toArray() as number[]) counts[label] = (counts[label] ?? 0) + 1;
    assert.deepEqual(counts, new Array(10).fill(20));
    const mean = ds.images.float().mean().item();
    assert.ok(mean > 60 && mean < 200, `mean pixel ${mean}: real photographs are neither blank nor saturated`);
  });

  test("three epochs of pretraining on 4,096 images: kNN beats chance by 15 points", async () => {
    const dir = mkdtempSync(join(tmpdir(), "simclr-e2e-cifar-"));
    const config = loadConfig({
      set: ["data.name=cifar10-jpg", "data.limit=4096", "model.width=8", "augment.preset=cifar", "train.batchSize=256", "train.epochs=3", "monitor.knnEvery=0"],
    });
    await pretrain(dir, config, { progress: quiet(), handleSignals: false });
    const knn = await evaluate(dir, evaluationConfig(dir, { set: ["data.limit=2000"] }), { protocol: "knn", progress: quiet() });
    assert.ok(knn.top1 > CHANCE + 0.15, `kNN top-1 ${knn.top1}`);
  });
});
