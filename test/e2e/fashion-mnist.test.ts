/**
 * End to end on Fashion-MNIST from Debian's dataset-fashion-mnist (npm run test:e2e installs
 * it): the data reads, and a short pretraining gives a representation whose kNN and linear
 * accuracy beat chance (10%) by a stated margin. Missing data is a failure here, not a skip.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { FASHION_MNIST_DEFAULT_PATH, evaluate, evaluationConfig, loadConfig, loadIdxDataset, pretrain } from "../../src/index.js";
import { quiet } from "../helpers.js";

const CHANCE = 0.1;

before(() => {
  assert.ok(existsSync(FASHION_MNIST_DEFAULT_PATH), `${FASHION_MNIST_DEFAULT_PATH} is missing: install Debian's dataset-fashion-mnist (npm run test:e2e does)`);
});

describe("Fashion-MNIST", () => {
  test("Debian's package reads: 60,000 + 10,000 images of 10 classes", () => {
    const train = loadIdxDataset({ split: "train", limit: 100 });
    assert.deepEqual(train.images.shape, [100, 1, 28, 28]);
    const testSplit = loadIdxDataset({ split: "test" });
    assert.deepEqual(testSplit.images.shape, [10000, 1, 28, 28]);
    assert.equal(testSplit.labels.max().item(), 9);
  });

  test("one epoch of pretraining on 4,096 images: kNN beats chance by 40 points, linear by 50", async () => {
    const dir = mkdtempSync(join(tmpdir(), "simclr-e2e-fmnist-"));
    const config = loadConfig({ set: ["data.limit=4096", "model.width=8", "train.batchSize=256", "train.epochs=1", "monitor.knnEvery=0"] });
    await pretrain(dir, config, { progress: quiet(), handleSignals: false });
    const evalConfig = evaluationConfig(dir, { set: ["data.limit=2000"] });
    const knn = await evaluate(dir, evalConfig, { protocol: "knn", progress: quiet() });
    assert.ok(knn.top1 > CHANCE + 0.4, `kNN top-1 ${knn.top1}`);
    const linear = await evaluate(dir, evalConfig, { protocol: "linear", progress: quiet() });
    assert.ok(linear.top1 > CHANCE + 0.5, `linear top-1 ${linear.top1}`);
  });
});
