/**
 * What watches a pretraining run on rank 0, as its config asks: the online linear probe, the
 * kNN monitor (with its bank and queries drawn from the data), the collapse monitor (RankMe),
 * TensorBoard, and the grid of
 * augmented views written before the first step.
 */
import type { SimCLRAugment } from "../augment/simclr.js";
import type { Config } from "../config/schema.js";
import { loadDataset, type LoadedDataset } from "../data/datasets.js";
import { KnnMonitor } from "../eval/knn-monitor.js";
import { RankMonitor } from "../eval/rank-monitor.js";
import { writeFileAtomic } from "../io/atomic.js";
import type { SimCLRModel } from "../models/simclr.js";
import { gridPng, viewGrid } from "../report/view-grid.js";
import type { RunDir } from "../run/run-dir.js";
import { withoutRngEffect } from "../tensor/rng.js";
import { keep } from "../tensor/scope.js";
import type { TrainCallback } from "../run/callbacks.js";
import { OnlineLinearProbe } from "../train/probe.js";
import type { ProgressReporter } from "../io/progress.js";
import { TensorBoardLogger } from "../train/tensorboard.js";

/** The monitors the config asks for, TensorBoard last; the caller disposes them. */
export async function pretrainMonitors(
  config: Config,
  data: LoadedDataset,
  model: SimCLRModel,
  device: string,
  run: RunDir,
  progress: ProgressReporter,
): Promise<{ callbacks: TrainCallback[]; tensorboard: TensorBoardLogger }> {
  const callbacks: TrainCallback[] = [];
  if (config.monitor.linearProbe && data.labeled)
    callbacks.push(new OnlineLinearProbe(model.encoder.featureDim, data.classes.length, device, config.monitor.probeLr));
  const knn = config.monitor.knnEvery > 0 && data.labeled ? await knnMonitor(config, data, progress) : null;
  if (knn !== null) callbacks.push(knn);
  if (config.monitor.rankMe) callbacks.push(new RankMonitor());
  const tensorboard = new TensorBoardLogger(run.files.tensorboard);
  callbacks.push(tensorboard);
  return { callbacks, tensorboard };
}

/**
 * What the model sees: 8 training images and 4 augmented views of each, drawn without
 * touching the training RNG (the run is the same with or without it), as
 * DIR/augmented-views.png and a TensorBoard image at step 0.
 */
export async function writeViewGrid(run: RunDir, data: LoadedDataset, augment: SimCLRAugment, tensorboard: TensorBoardLogger): Promise<void> {
  const rows = Math.min(8, data.images.size(0));
  const grid = withoutRngEffect(() => {
    const images = data.images.narrow(0, 0, rows); // (rows, C, H, W) uint8
    try {
      return viewGrid(images, augment, 4, Math.max(48, data.images.size(2)));
    } finally {
      images.dispose();
    }
  });
  const png = await gridPng(grid);
  writeFileAtomic(run.files.views, png);
  tensorboard.image(0, "augment/views", png, grid.height, grid.width);
}

/**
 * The kNN monitor's data: the first monitor.knnSamples training images as the bank, and a
 * fifth as many queries from the test split (from the images after the bank when the data
 * set has no test split). Null, with a message, when there are no queries.
 */
async function knnMonitor(config: Config, data: LoadedDataset, progress: ProgressReporter): Promise<KnnMonitor | null> {
  const n = data.images.size(0);
  const bankSize = Math.min(config.monitor.knnSamples, n);
  const querySize = Math.max(1, Math.floor(config.monitor.knnSamples / 5));
  const bank = { images: keep(data.images.narrow(0, 0, bankSize)), labels: keep(data.labels.narrow(0, 0, bankSize)) };
  let queries: { images: typeof data.images; labels: typeof data.labels };
  if (!data.hasTestSplit) {
    if (n - bankSize < 1) {
      progress.message("monitor: no images left after the kNN bank for queries; kNN monitoring is off (lower monitor.knnSamples)");
      bank.images.dispose();
      bank.labels.dispose();
      return null;
    }
    const count = Math.min(querySize, n - bankSize);
    queries = { images: keep(data.images.narrow(0, bankSize, count)), labels: keep(data.labels.narrow(0, bankSize, count)) };
  } else {
    try {
      const test = await loadDataset({ ...config.data, limit: querySize }, "test");
      queries = { images: keep(test.images), labels: keep(test.labels) };
    } catch (e) {
      progress.message(`monitor: the test split could not be loaded (${(e as Error).message}); kNN monitoring is off`);
      bank.images.dispose();
      bank.labels.dispose();
      return null;
    }
  }
  return new KnnMonitor(bank, queries, data.classes.length, config.train.device, config.monitor.knnEvery, {
    k: config.monitor.knnK,
    temperature: config.monitor.knnTemperature,
  });
}
