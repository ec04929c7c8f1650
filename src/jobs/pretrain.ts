/**
 * The pretraining job: a config in, a run directory out. It takes the run directory's lock,
 * starts or resumes the run there (run/run-dir.ts), loads the data, builds the run
 * (recipe/pretraining.ts) and its monitors (monitors.ts), joins the process group, and runs
 * the loop of train/pretrain.ts. SIGINT/SIGTERM during the loop save a checkpoint and stop;
 * before it (loading images, building monitors) they undo the start (StoppedError).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import { checkConfig, configDifferences, configFromFlat, flattenConfig, withLocationOverrides, withLocationsOf } from "../config/load.js";
import { LOCATION_KEYS } from "../config/schema.js";
import { loadDataset, type LoadedDataset } from "../data/datasets.js";
import type { LaunchEnv } from "../distributed/launch-env.js";
import type { ProcessGroup } from "../distributed/process-group.js";
import { CheckpointError, ConfigError, StoppedError } from "../errors.js";
import { syncBatchNorm } from "../nn/batchnorm.js";
import { checkPretrainMemory } from "../recipe/memory.js";
import { buildPretraining } from "../recipe/pretraining.js";
import { checkpointConfig, disposeCheckpoint, latestCheckpoint, loadCheckpoint } from "../run/checkpoint.js";
import { loadInitWeights } from "../run/encoder.js";
import { RunDir, truncateJsonLines, type Note } from "../run/run-dir.js";
import { writeFileAtomic } from "../io/atomic.js";
import type { RunLock } from "../run/run-lock.js";
import { manualSeed } from "../tensor/runtime.js";
import type { TrainCallback } from "../run/callbacks.js";
import { DataParallel } from "../train/data-parallel.js";
import { runPretrainLoop, type PretrainResult } from "../train/pretrain.js";
import { watchParent } from "../io/process.js";
import { ProgressReporter } from "../io/progress.js";
import { TrainState } from "../train/state.js";
import { pretrainMonitors, writeViewGrid } from "./monitors.js";
import { loadTeacher, type Teacher } from "./teacher.js";
import { DISTILL_METRIC, LABEL_DISTILL_METRIC, distillForward, labelDistillForward } from "../train/distill-step.js";
import type { StepForward } from "../train/pretrain.js";
import { checkedThreads, chooseGlooInterface, joinGroup, setWorkerThreads, workerDevice } from "./worker.js";

export type { PretrainResult };
export { launchEnv } from "../distributed/launch-env.js";

/** Options of pretrain and resume; the run directory is their first argument. */
export interface PretrainOptions {
  /** Where progress goes (default: stderr). */
  progress?: ProgressReporter;
  /** Stop after this many optimizer steps in this call, saving a checkpoint. */
  stopAfterSteps?: number;
  /**
   * Handle SIGINT/SIGTERM (default true): during training by saving a checkpoint and returning
   * "stopped"; before the first step by undoing the start and throwing StoppedError.
   */
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

/** A line for the user before the run's own progress reporter exists: to options.progress, or stderr. */
function noteTo(options: PretrainOptions): Note {
  return (message) => (options.progress !== undefined ? options.progress.message(message) : process.stderr.write(`${message}\n`));
}

/**
 * A request to stop the run: SIGINT, SIGTERM, or the launcher gone. Before the loop begins
 * (`training` false) it aborts `signal`, which stops the data load, and the set-up throws
 * StoppedError at its next check; in the loop it is a checkpoint and a stop.
 */
class StopRequest {
  requested = false;
  training = false;
  /** What the stop leaves, for StoppedError's message. */
  leaves = "nothing was written";
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;

  constructor(private readonly say: Note) {}

  /** Asks the run to stop (once); `line` replaces the default line for the user. */
  request(by: string, line?: string): void {
    if (this.requested) return;
    this.requested = true;
    const when = this.training ? "saving a checkpoint after this step, then stopping" : "stopping before training begins";
    this.say(line === undefined ? `${by}: ${when}` : `${line}: ${when}`);
    this.controller.abort(new StoppedError(by, `stopped by ${by} before training began: ${this.leaves}`));
  }

  /** Throws the StoppedError when a stop was asked for (call before the loop begins). */
  throwIfRequested(): void {
    this.signal.throwIfAborted();
  }
}

/** Runs `fn` with a StopRequest that SIGINT and SIGTERM make (when options.handleSignals, the default). */
async function withStopRequest<T>(options: PretrainOptions, fn: (stop: StopRequest) => Promise<T>): Promise<T> {
  const main = (options.launch?.rank ?? 0) === 0;
  const stop = new StopRequest(main ? noteTo(options) : () => undefined);
  const handlers = { SIGINT: () => stop.request("SIGINT"), SIGTERM: () => stop.request("SIGTERM") };
  const handleSignals = options.handleSignals ?? true;
  if (handleSignals) {
    process.on("SIGINT", handlers.SIGINT);
    process.on("SIGTERM", handlers.SIGTERM);
  }
  try {
    return await fn(stop);
  } finally {
    if (handleSignals) {
      process.off("SIGINT", handlers.SIGINT);
      process.off("SIGTERM", handlers.SIGTERM);
    }
  }
}

/** Takes the run's lock on rank 0 (other ranks write nothing); null elsewhere. */
function lockRun(run: RunDir, options: PretrainOptions): RunLock | null {
  return (options.launch?.rank ?? 0) === 0 ? run.lock(noteTo(options)) : null;
}

/**
 * Pretrains from scratch into the run directory `runDir` (config.yaml, metrics.jsonl,
 * checkpoints/, ...). A directory that already holds a run is refused unless `force`, which
 * moves the old run aside (RunDir.start). A start that fails before training (a data folder
 * that is not there, a batch that does not divide among the processes, a signal while the
 * images load) leaves no run behind: what it wrote is removed, and the directory too when
 * this call made it.
 */
export async function pretrain(runDir: string, config: Config, options: PretrainOptions & { force?: boolean } = {}): Promise<PretrainResult> {
  checkConfig(config, "pretrain(config)");
  checkBeforeWriting(config, options.launch ?? null);
  return withStopRequest(options, async (stop) => {
    const run = new RunDir(runDir);
    const existed = existsSync(run.path);
    stop.leaves = existed ? `${run.path} is as it was` : `nothing was written (${run.path} is not there)`;
    const lock = lockRun(run, options);
    let started = false;
    let aside: string | null = null;
    try {
      if (lock !== null) aside = run.start(config, { force: options.force ?? false, note: noteTo(options) });
      started = lock !== null;
      return await train(config, run, options, null, stop);
    } catch (e) {
      if (started && run.heldEntries().length === 0) run.abandonStart(aside, noteTo(options));
      throw e;
    } finally {
      lock?.release();
      if (started && !existed) run.removeIfEmpty();
    }
  });
}

/** Options of resume: PretrainOptions and location overrides. */
export interface ResumeOptions extends PretrainOptions {
  /**
   * `key=value` overrides of location keys (LOCATION_KEYS: data.path, train.device,
   * train.threads, dist.*), for a run whose data moved or that continues on another machine.
   * Any other key is refused: the recipe stays as the run started.
   */
  set?: string[];
  /** Where `set` came from, for errors (default "set"; the CLI says "--set"). */
  setSource?: string;
}

/**
 * Continues the run in `runDir` from its latest checkpoint, with the config it was started
 * with, apart from the location keys `options.set` changes. A run that stopped before its
 * first checkpoint starts again from step 0; a finished run returns at once.
 */
export async function resume(runDir: string, options: ResumeOptions = {}): Promise<PretrainResult> {
  const set = options.set ?? [];
  return resumeWith(runDir, options, (saved) => (set.length === 0 ? saved : withLocationOverrides(saved, set, options.setSource ?? "set")));
}

/**
 * One call that starts a run or resumes it, for restarts that run the same command again
 * (torchrun --max_restarts, Slurm's requeue, a pod restart): when `runDir` holds no run it
 * starts one with `config`; when it holds a run with the same config (location keys aside)
 * it resumes it, taking the location keys from `config`; when the configs differ it refuses,
 * naming the keys that differ.
 */
export async function pretrainOrResume(runDir: string, config: Config, options: PretrainOptions = {}): Promise<PretrainResult> {
  checkConfig(config, "pretrainOrResume(config)");
  const run = new RunDir(runDir);
  const saved = savedConfig(run);
  if (saved === null) return pretrain(runDir, config, options);
  const differ = configDifferences(saved, config, LOCATION_KEYS);
  if (differ.length > 0) {
    const flat = [flattenConfig(saved), flattenConfig(config)];
    throw new ConfigError(
      `${run.path} holds a run with another config: ${differ.map((k) => `${k} is ${JSON.stringify(flat[0]?.get(k))} there, ${JSON.stringify(flat[1]?.get(k))} here`).join("; ")}. ` +
        "Resume it with its own config, choose another run directory, or replace it",
      differ[0],
    );
  }
  if ((options.launch?.rank ?? 0) === 0) noteTo(options)(`${run.path} holds this run: resuming it`);
  return resumeWith(runDir, options, (s) => withLocationsOf(s, config));
}

/** The config of the run in `run` (its latest checkpoint's, else config.yaml), or null when it holds no run. */
function savedConfig(run: RunDir): Config | null {
  const dir = latestCheckpoint(run.path);
  if (dir !== null) return checkpointRunConfig(run, dir).config;
  // what a failed start leaves (config.yaml, an empty metrics.jsonl) is not a run
  if (run.heldEntries().length === 0 || !existsSync(run.files.config)) return null;
  return run.readConfig();
}

async function resumeWith(runDir: string, options: PretrainOptions, adjust: (saved: Config) => Config): Promise<PretrainResult> {
  return withStopRequest(options, (stop) => resumeStopping(runDir, options, adjust, stop));
}

async function resumeStopping(runDir: string, options: PretrainOptions, adjust: (saved: Config) => Config, stop: StopRequest): Promise<PretrainResult> {
  const run = new RunDir(runDir);
  stop.leaves = `${run.path} is as its latest checkpoint left it`;
  const lock = lockRun(run, options);
  try {
    if (lock !== null) run.removeStaleTemporaries(noteTo(options));
    const dir = latestCheckpoint(run.path);
    if (dir === null) {
      // A run that stopped (or was killed) before its first checkpoint: continuing it is
      // starting it again, with the config it was started with.
      if (!existsSync(run.files.config)) {
        throw new CheckpointError(
          run.path,
          `${run.path} has no checkpoint to resume from (checkpoints/latest is missing) and no config.yaml to start it again with`,
        );
      }
      const { config } = adjusted(run.readConfig(), adjust, options);
      if (lock !== null) {
        truncateJsonLines(run.files.metrics, 0);
        run.writeConfig(config);
        noteTo(options)(`${run.path} has no checkpoint yet: starting it again from step 0 with its config.yaml`);
      }
      return await train(config, run, options, null, stop);
    }
    const saved = checkpointRunConfig(run, dir);
    const { config, moved } = adjusted(saved.config, adjust, options);
    if (saved.fromCheckpoint && lock !== null)
      run.syncConfig(config, `${join(dir, "state.json")}${moved ? " and the location keys above" : ""}`, noteTo(options));
    return await train(config, run, options, dir, stop);
  } finally {
    lock?.release();
  }
}

/**
 * The config the checkpoint `dir` was written with: the run's (config.yaml is a readable copy;
 * checkpoints from before it was stored there fall back to config.yaml).
 */
function checkpointRunConfig(run: RunDir, dir: string): { config: Config; fromCheckpoint: boolean } {
  const flat = checkpointConfig(dir);
  return flat !== null ? { config: configFromFlat(flat, join(dir, "state.json")), fromCheckpoint: true } : { config: run.readConfig(), fromCheckpoint: false };
}

/** `adjust(saved)`, saying which location keys changed (rank 0), checked before anything is written. */
function adjusted(saved: Config, adjust: (saved: Config) => Config, options: PretrainOptions): { config: Config; moved: boolean } {
  const config = adjust(saved);
  const changed = configDifferences(saved, config);
  if ((options.launch?.rank ?? 0) === 0) {
    const [a, b] = [flattenConfig(saved), flattenConfig(config)];
    for (const k of changed) noteTo(options)(`resuming with ${k} ${JSON.stringify(b.get(k))} (was ${JSON.stringify(a.get(k))})`);
  }
  checkBeforeWriting(config, options.launch ?? null);
  return { config, moved: changed.length > 0 };
}

/** What a config is checked for before a run directory is touched: threads, memory, the global batch. */
function checkBeforeWriting(config: Config, launch: LaunchEnv | null): void {
  checkedThreads(config);
  checkPretrainMemory(config);
  if (launch !== null && config.train.batchSize % launch.worldSize !== 0) {
    throw new ConfigError(
      `train.batchSize ${config.train.batchSize} (the global batch) does not divide among ${launch.worldSize} processes`,
      "train.batchSize",
    );
  }
}

/**
 * The run itself, from step 0 or from the checkpoint `from`. A worker started by a launcher
 * watches it from here on (before its data loads, which can take minutes): a launcher killed
 * with SIGKILL forwards nothing, so the workers notice it is gone and stop as on SIGTERM (a
 * checkpoint at the same step on every rank, the lock released).
 */
async function train(config: Config, run: RunDir, options: PretrainOptions, from: string | null, stop: StopRequest): Promise<PretrainResult> {
  const launch = options.launch ?? null;
  const main = (launch?.rank ?? 0) === 0;
  const progress = options.progress ?? (main ? new ProgressReporter(process.stderr, config.train.logEvery * 5) : ProgressReporter.silent());
  const launcherPid = Number(process.env.SIMCLR_LAUNCHER_PID);
  const unwatch = launch?.launcher
    ? watchParent(
        (pid) => {
          stop.request("the launcher's exit", `rank ${launch.rank}: the launcher (${launch.launcher}, pid ${pid}) is gone`);
        },
        Number.isInteger(launcherPid) && launcherPid > 0 ? launcherPid : undefined,
      )
    : () => {};
  try {
    return await trainWatched(config, run, options, from, { launch, main, progress, stop });
  } finally {
    unwatch();
  }
}

async function trainWatched(
  config: Config,
  run: RunDir,
  options: PretrainOptions,
  from: string | null,
  ctx: { launch: LaunchEnv | null; main: boolean; progress: ProgressReporter; stop: StopRequest },
): Promise<PretrainResult> {
  const { launch, main, progress, stop } = ctx;
  setWorkerThreads(config, launch);
  manualSeed(config.train.seed);
  const device = workerDevice(config, launch);

  stop.throwIfRequested();
  const data = options.data ?? (await loadTrainingSet(config, progress, stop.signal));
  if (data.skipped > 0) progress.message(`skipped ${data.skipped} unreadable image(s) (data.skipBad)`);
  const {
    model,
    optimizer,
    augment,
    loader,
    schedule,
    step,
    loop,
    dataParallel: dpSettings,
  } = buildPretraining(config, {
    inChannels: data.images.size(1),
    device,
    data: { images: data.images, ...(data.labeled ? { labels: data.labels } : {}) },
    rank: launch?.rank ?? 0,
    worldSize: launch?.worldSize ?? 1,
  });
  // Monitors and checkpoints are rank 0's: the other ranks keep no callbacks.
  const callbacks: TrainCallback[] = [];
  let group: ProcessGroup | null = null;
  let dataParallel: DataParallel | null = null;
  let teacher: Teacher | null = null;
  try {
    stop.throwIfRequested();
    if (config.distill.teacher !== null) {
      // Distillation (distill-step.ts): the loss is the teacher's h or soft labels, not NT-Xent.
      if (config.train.chunkSize !== null)
        throw new ConfigError("train.chunkSize (GradCache) is for NT-Xent's batch-wide loss: distillation needs none", "train.chunkSize");
      teacher = loadTeacher(config, data.images.size(1), device);
      if (main) {
        writeFileAtomic(run.files.teacher, `${JSON.stringify(teacher.provenance, null, 1)}\n`);
        const { arch, run: from, checkpoint, outDim } = teacher.provenance;
        progress.message(
          config.distill.mode === "labels"
            ? `distilling the labels of ${arch} (${from}, ${checkpoint}) at temperature ${config.distill.temperature}`
            : `distilling ${arch} (${from}, ${checkpoint}, h of ${outDim}) with ${config.distill.loss} loss`,
        );
      }
    }
    if (from === null && config.model.init !== null) {
      // Weights trained elsewhere (section 4 of the paper starts from random init; adapting a
      // pretrained encoder to one's own images is the common use): the head starts fresh.
      const provenance = loadInitWeights(model.encoder, config.model.init, config);
      if (main) {
        writeFileAtomic(run.files.init, `${JSON.stringify(provenance, null, 1)}\n`);
        progress.message(
          `encoder initialised from ${provenance.file} (${provenance.format}, ${provenance.loaded} tensors, sha256 ${provenance.sha256.slice(0, 12)})`,
        );
      }
    }
    if (main) {
      const monitors = await pretrainMonitors(config, data, model, device, run, progress);
      callbacks.push(...monitors.callbacks, ...(options.callbacks ?? []));
      if (from === null) await writeViewGrid(run, data, augment, monitors.tensorboard);
    }
    const state = new TrainState(model, optimizer, config.optim.name, loader, callbacks);
    if (from !== null) {
      const checkpoint = loadCheckpoint(from);
      try {
        state.load(checkpoint);
      } catch (e) {
        if (e instanceof CheckpointError) throw e;
        throw new CheckpointError(from, `${from} does not fit the run's config: ${(e as Error).message}`, { cause: e });
      } finally {
        disposeCheckpoint(checkpoint);
      }
      if (main) truncateJsonLines(run.files.metrics, state.globalStep);
      progress.message(
        `resuming ${run.path} at epoch ${loader.epoch + 1}, step ${state.globalStep} (${from})${launch === null ? "" : ` on ${launch.worldSize} processes`}`,
      );
    }
    // the last point where a stop undoes the start; from here on it is a checkpoint (in a
    // parallel run every rank agrees on it in the loop, which a throw here could not)
    stop.throwIfRequested();
    stop.training = true;
    if (launch !== null) {
      // Joined after this rank has loaded its data and built its monitors, so no rank waits
      // on another's loading.
      await chooseGlooInterface(config, launch, device, (line) => process.stderr.write(`${line}\n`));
      group = joinGroup(config, launch, device);
      if (config.model.syncBN) syncBatchNorm(model, group);
      dataParallel = new DataParallel(model, group, dpSettings.bucketBytes, dpSettings.overlap);
      dataParallel.broadcastState();
      if (main)
        progress.message(
          `data parallel: ${group.size} processes (${group.backend}), ${loader.batchSize / group.size} images each per global batch of ${loader.batchSize}`,
        );
    }
    return await runPretrainLoop(state, {
      runDir: run.path,
      step,
      loop,
      schedule,
      augment,
      progress,
      shouldStop: () => stop.requested,
      ...(options.stopAfterSteps !== undefined ? { stopAfterSteps: options.stopAfterSteps } : {}),
      ...(from !== null ? { lastCheckpoint: from } : {}),
      ...(group !== null && dataParallel !== null ? { parallel: { group, dataParallel } } : {}),
      ...(teacher !== null ? { objective: distillObjective(teacher, config.distill) } : {}),
    });
  } finally {
    // Everything but the model (returned to the caller) is this job's to free.
    teacher?.dispose();
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

/** The distillation step against a frozen teacher, and its figure's metric name, as the loop takes them. */
function distillObjective(teacher: Teacher, distill: Config["distill"]): { forward: StepForward; metric: string } {
  if (distill.mode === "labels") {
    return {
      forward: (model, augment, images, options) => labelDistillForward(model, teacher.forward, distill.temperature, augment, images, options),
      metric: LABEL_DISTILL_METRIC,
    };
  }
  return {
    forward: (model, augment, images, options) => distillForward(model, teacher.forward, distill.loss, augment, images, options),
    metric: DISTILL_METRIC,
  };
}

async function loadTrainingSet(config: Config, progress: ProgressReporter, signal: AbortSignal): Promise<LoadedDataset> {
  let lastTenth = -1;
  const onProgress = (done: number, total: number) => {
    const tenth = Math.floor((10 * done) / total);
    if (tenth !== lastTenth) progress.message(`decoding images: ${done}/${total}`);
    lastTenth = tenth;
  };
  return loadDataset(config.data, "train", { onProgress, signal });
}
