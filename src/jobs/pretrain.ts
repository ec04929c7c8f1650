/**
 * The pretraining job: a config in, a run directory out. It loads the data, builds what the
 * recipe says, attaches the monitors the config asks for (online probe, kNN), handles
 * SIGINT/SIGTERM by checkpointing, and runs the loop of train/pretrain.ts. `resume` continues
 * a run with the config saved in it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { acquireRunLock, type RunLock } from "../run/run-lock.js";
import { gridPng, viewGrid } from "../report/view-grid.js";
import type { Config } from "../config/schema.js";
import { loadDataset, type LoadedDataset } from "../data/datasets.js";
import { DataLoader } from "../data/loader.js";
import type { LaunchEnv } from "../distributed/launch-env.js";
import { checkedThreads, joinGroup, setWorkerThreads, workerDevice } from "./worker.js";
import type { ProcessGroup } from "../distributed/process-group.js";
import { CheckpointError, ConfigError } from "../errors.js";
import { syncBatchNorm } from "../nn/batchnorm.js";
import { DataParallel } from "../train/data-parallel.js";
import { KnnMonitor } from "../eval/knn-monitor.js";
import { buildAugment, buildModel, buildOptimizer, pretrainSchedule } from "../recipe/recipe.js";
import { checkPretrainMemory } from "../recipe/memory.js";
import { checkpointConfig, disposeCheckpoint, latestCheckpoint, loadCheckpoint } from "../run/checkpoint.js";
import { checkConfig, configFromFlat, configToYaml } from "../config/load.js";
import { readRunConfig, runFiles, truncateJsonLines, writeRunConfig } from "../run/run-dir.js";
import { manualSeed } from "../tensor/runtime.js";
import { withoutRngEffect } from "../tensor/rng.js";
import { writeFileAtomic } from "../nn/safetensors.js";
import { keep } from "../tensor/scope.js";
import type { TrainCallback } from "../train/callbacks.js";
import { OnlineLinearProbe } from "../train/probe.js";
import { TensorBoardLogger } from "../train/tensorboard.js";
import { runPretrainLoop, type PretrainResult } from "../train/pretrain.js";
import { ProgressReporter } from "../train/progress.js";
import { TrainState } from "../train/state.js";

export type { PretrainResult };
export { launchEnv } from "../distributed/launch-env.js";

export interface PretrainOptions {
  /** Run directory: config.yaml, metrics.jsonl, checkpoints/. */
  outDir: string;
  /** Where progress goes (default: stderr). */
  progress?: ProgressReporter;
  /** Stop after this many optimizer steps in this call, saving a checkpoint. */
  stopAfterSteps?: number;
  /** Handle SIGINT/SIGTERM by saving a checkpoint and returning "stopped" (default true). */
  handleSignals?: boolean;
  /** An already-loaded training set (skips loading). */
  data?: LoadedDataset;
  /** More callbacks, after the monitors (tests, custom logging); rank 0 only. */
  callbacks?: TrainCallback[];
  /**
   * This process's place in a data-parallel job (see launchEnv(), which reads torchrun's
   * variables); absent or null: one process.
   */
  launch?: LaunchEnv | null;
}

/** Every entry a run directory may hold, in the order errors list them. */
const RUN_ENTRIES = ["config.yaml", "metrics.jsonl", "results.jsonl", "checkpoints", "tensorboard", "augmented-views.png"];
/** What a run writes before its first step; alone, they are a start that never trained. */
const START_ENTRIES = RUN_ENTRIES.filter((e) => e !== "results.jsonl" && e !== "checkpoints");

/**
 * The entries that make `outDir` a run worth keeping: checkpoints, results, or logged steps.
 * A directory with only what a failed start leaves (config.yaml, an empty metrics.jsonl, the
 * views grid, an events file) holds no training and may be started over.
 */
function heldRunEntries(outDir: string): string[] {
  if (!existsSync(outDir)) return [];
  const metrics = join(outDir, "metrics.jsonl");
  const logged = existsSync(metrics) && statSync(metrics).size > 0;
  if (!logged && !existsSync(join(outDir, "checkpoints")) && !existsSync(join(outDir, "results.jsonl"))) return [];
  return RUN_ENTRIES.filter((e) => existsSync(join(outDir, e)));
}

/**
 * Leftovers of writers that died mid-write: checkpoint folders (checkpoints/.tmp-*) and
 * atomic-write temporaries (*.tmp-<pid>-*). Only called with the run's lock held, so none
 * belongs to a live writer.
 */
function removeStaleTemporaries(options: PretrainOptions): void {
  const outDir = options.outDir;
  for (const dir of [outDir, join(outDir, "checkpoints")]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (/^\.tmp-/.test(name) || /\.tmp-\d+-[a-z0-9]+$/.test(name)) {
        rmSync(join(dir, name), { recursive: true, force: true });
        note(options, `removed ${join(dir, name)}, left by a writer that stopped mid-write`);
      }
    }
  }
}

/** A line for the user before the run's own progress reporter exists: to options.progress, or stderr. */
function note(options: PretrainOptions, message: string): void {
  if (options.progress !== undefined) options.progress.message(message);
  else process.stderr.write(`${message}\n`);
}

/** Takes the run's lock on rank 0 (other ranks write nothing); null elsewhere. */
function lockRun(options: PretrainOptions): RunLock | null {
  if ((options.launch?.rank ?? 0) !== 0) return null;
  return acquireRunLock(options.outDir, (h) => note(options, `taking over ${join(options.outDir, ".lock")} from pid ${h.pid}, which is gone`));
}

/**
 * Pretrains from scratch into `options.outDir`. A directory that already holds a run is
 * refused (whatever state its checkpoints are in) unless `force`, which moves the old run's
 * files aside into `<outDir>.replaced-<time>/` rather than deleting them.
 */
export async function pretrain(config: Config, options: PretrainOptions & { force?: boolean }): Promise<PretrainResult> {
  checkConfig(config, "pretrain(config)");
  checkedThreads(config); // before anything is written
  checkPretrainMemory(config);
  const lock = lockRun(options);
  try {
    if ((options.launch?.rank ?? 0) === 0) {
      const held = heldRunEntries(options.outDir);
      if (held.length > 0 && !options.force) {
        throw new CheckpointError(options.outDir, `${options.outDir} already holds a run (${held.join(", ")}): resume it, choose another run directory, or replace it (force; --force moves the old run aside)`);
      }
      if (held.length === 0) {
        // a start that failed before its first step (a bad path, say): its files go
        for (const e of START_ENTRIES) if (existsSync(join(options.outDir, e))) rmSync(join(options.outDir, e), { recursive: true, force: true });
      }
      if (held.length > 0) {
        const aside = `${options.outDir.replace(/\/+$/, "")}.replaced-${new Date().toISOString().replace(/[:.]/g, "-")}`;
        mkdirSync(aside);
        for (const name of readdirSync(options.outDir)) if (name !== ".lock") renameSync(join(options.outDir, name), join(aside, name));
        note(options, `moved the previous run in ${options.outDir} to ${aside}`);
      }
      writeRunConfig(options.outDir, config);
      writeFileSync(runFiles(options.outDir).metrics, "");
    }
    return await run(config, options, false);
  } finally {
    lock?.release();
  }
}

/** Continues the run in `options.outDir` from its latest checkpoint, with its saved config. */
export async function resume(options: PretrainOptions): Promise<PretrainResult> {
  const lock = lockRun(options);
  try {
    const dir = latestCheckpoint(options.outDir);
    if (lock !== null) removeStaleTemporaries(options);
    if (dir === null) {
      // A run that stopped (or was killed) before its first checkpoint: continuing it is
      // starting it again, with the config it was started with.
      if (!existsSync(runFiles(options.outDir).config)) {
        throw new CheckpointError(options.outDir, `${options.outDir} has no checkpoint to resume from (checkpoints/latest is missing) and no config.yaml to start it again with`);
      }
      const config = readRunConfig(options.outDir);
      checkedThreads(config);
      checkPretrainMemory(config);
      if (lock !== null) {
        truncateJsonLines(runFiles(options.outDir).metrics, 0);
        note(options, `${options.outDir} has no checkpoint yet: starting it again from step 0 with its config.yaml`);
      }
      return await run(config, options, false);
    }
    // The config the checkpoint was written with is the run's; config.yaml is a readable copy
    // (checkpoints from before it was stored there fall back to config.yaml).
    const flat = checkpointConfig(dir);
    const config = flat !== null ? configFromFlat(flat, join(dir, "state.json")) : readRunConfig(options.outDir);
    checkPretrainMemory(config);
    if (flat !== null && lock !== null) {
      const path = runFiles(options.outDir).config;
      let copy: string | null = null;
      try {
        copy = readFileSync(path, "utf-8");
      } catch {
        copy = null;
      }
      if (copy !== configToYaml(config)) {
        writeRunConfig(options.outDir, config);
        note(options, `${path} ${copy === null ? "was missing" : "differed from the checkpoint's config"}: rewritten from ${join(dir, "state.json")}`);
      }
    }
    return await run(config, options, true);
  } finally {
    lock?.release();
  }
}

async function run(config: Config, options: PretrainOptions, resuming: boolean): Promise<PretrainResult> {
  const { outDir } = options;
  const launch = options.launch ?? null;
  const main = (launch?.rank ?? 0) === 0;
  if (launch !== null && config.train.batchSize % launch.worldSize !== 0) {
    throw new ConfigError(`train.batchSize ${config.train.batchSize} (the global batch) does not divide among ${launch.worldSize} processes`, "train.batchSize");
  }
  const progress = options.progress ?? (main ? new ProgressReporter(process.stderr, config.train.logEvery * 5) : new ProgressReporter(silent(), 1_000_000));
  setWorkerThreads(config, launch);
  manualSeed(config.train.seed);
  const device = workerDevice(config, launch);

  const data = options.data ?? (await loadTrainingSet(config, progress));
  if (data.skipped > 0) progress.message(`skipped ${data.skipped} unreadable image(s) (data.skipBad)`);
  const schedule = pretrainSchedule(config, data.images.size(0));

  // The order of these draws from the seeded RNG is part of the recipe: model, then data.
  const model = buildModel(config, data.images.size(1)).to(device).toMemoryFormat(config.train.memoryFormat).train();
  const optimizer = buildOptimizer(config, model.namedParameters());
  const augment = buildAugment(config);
  const loader = new DataLoader(
    { images: data.images, ...(data.labeled ? { labels: data.labels } : {}) },
    { batchSize: config.train.batchSize, device, rank: launch?.rank ?? 0, worldSize: launch?.worldSize ?? 1 },
  );
  // Monitors and checkpoints are rank 0's: the other ranks keep no callbacks.
  const callbacks: TrainCallback[] = [];
  if (main) {
    if (config.monitor.linearProbe && data.labeled) callbacks.push(new OnlineLinearProbe(model.encoder.featureDim, data.classes.length, device, config.monitor.probeLr));
    const knn = config.monitor.knnEvery > 0 && data.labeled ? await knnMonitor(config, data, progress) : null;
    if (knn !== null) callbacks.push(knn);
    const tensorboard = new TensorBoardLogger(runFiles(outDir).tensorboard);
    callbacks.push(tensorboard);
    callbacks.push(...(options.callbacks ?? []));
    if (!resuming) await writeViewGrid(outDir, data, augment, tensorboard);
  }
  const state = new TrainState(model, optimizer, config.optim.name, loader, callbacks);

  let lastCheckpoint: string | undefined;
  if (resuming) {
    const dir = latestCheckpoint(outDir);
    if (dir === null) throw new CheckpointError(outDir, `${outDir} has no checkpoint to resume from`);
    const checkpoint = loadCheckpoint(dir);
    try {
      state.load(checkpoint);
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(dir, `${dir} does not fit the run's config: ${(e as Error).message}`, { cause: e });
    } finally {
      disposeCheckpoint(checkpoint);
    }
    if (main) truncateJsonLines(runFiles(outDir).metrics, state.globalStep);
    lastCheckpoint = dir;
    progress.message(`resuming ${outDir} at epoch ${loader.epoch + 1}, step ${state.globalStep} (${dir})${launch === null ? "" : ` on ${launch.worldSize} processes`}`);
  }

  let stopRequested = false;
  const onSignal = (signal: string) => {
    stopRequested = true;
    progress.message(`${signal}: saving a checkpoint after this step, then stopping`);
  };
  const handlers = { SIGINT: () => onSignal("SIGINT"), SIGTERM: () => onSignal("SIGTERM") };
  const handleSignals = options.handleSignals ?? true;
  if (handleSignals) {
    process.on("SIGINT", handlers.SIGINT);
    process.on("SIGTERM", handlers.SIGTERM);
  }
  let group: ProcessGroup | null = null;
  let dataParallel: DataParallel | null = null;
  try {
    if (launch !== null) {
      // Joined after this rank has loaded its data and built its monitors, so no rank waits
      // on another's loading.
      group = joinGroup(config, launch, device);
      if (config.model.syncBN) syncBatchNorm(model, group);
      // GradCache runs backward once per chunk: gradients are complete only after the last, so
      // they are averaged after the step, not from hooks inside the first backward
      dataParallel = new DataParallel(model, group, config.dist.bucketMiB * 2 ** 20, config.dist.overlap && config.train.chunkSize === null);
      dataParallel.broadcastState();
      if (main) progress.message(`data parallel: ${group.size} processes (${group.backend}), ${loader.batchSize / group.size} images each per global batch of ${loader.batchSize}`);
    }
    return await runPretrainLoop(state, {
      runDir: outDir,
      config,
      schedule,
      augment,
      progress,
      shouldStop: () => stopRequested,
      ...(options.stopAfterSteps !== undefined ? { stopAfterSteps: options.stopAfterSteps } : {}),
      ...(lastCheckpoint !== undefined ? { lastCheckpoint } : {}),
      ...(group !== null && dataParallel !== null ? { parallel: { group, dataParallel } } : {}),
    });
  } finally {
    if (handleSignals) {
      process.off("SIGINT", handlers.SIGINT);
      process.off("SIGTERM", handlers.SIGTERM);
    }
    // Everything but the model (returned to the caller) is this job's to free.
    dataParallel?.dispose();
    group?.destroy();
    loader.dispose();
    optimizer.dispose();
    for (const c of callbacks) if (!(options.callbacks ?? []).includes(c)) c.dispose?.();
    if (options.data === undefined) {
      data.images.dispose();
      data.labels.dispose();
    }
  }
}

/**
 * What the model sees: 8 training images and 4 augmented views of each, drawn without
 * touching the training RNG (the run is the same with or without it), as
 * DIR/augmented-views.png and a TensorBoard image at step 0.
 */
async function writeViewGrid(outDir: string, data: LoadedDataset, augment: ReturnType<typeof buildAugment>, tensorboard: TensorBoardLogger): Promise<void> {
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
  writeFileAtomic(runFiles(outDir).views, png);
  tensorboard.image(0, "augment/views", png, grid.height, grid.width);
}

async function loadTrainingSet(config: Config, progress: ProgressReporter): Promise<LoadedDataset> {
  let lastTenth = -1;
  return loadDataset(config.data, "train", (done, total) => {
    const tenth = Math.floor((10 * done) / total);
    if (tenth !== lastTenth) progress.message(`decoding images: ${done}/${total}`);
    lastTenth = tenth;
  });
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
  return new KnnMonitor(bank, queries, data.classes.length, config.train.device, config.monitor.knnEvery, { k: config.monitor.knnK, temperature: config.monitor.knnTemperature });
}

function silent(): NodeJS.WriteStream {
  return { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
}
