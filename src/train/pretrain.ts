/**
 * The SimCLR pretraining loop (Algorithm 1 of the paper): for each batch, the step of
 * simclr-step.ts, backward, an optimizer step at the warm-up + cosine learning rate; metrics
 * to metrics.jsonl; a checkpoint every few epochs and when asked to stop. The loop knows
 * how to run, not what is built (recipe/pretraining.ts) nor who watches (callbacks); it
 * receives its options and reads no config key.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import type { SimCLRAugment } from "../augment/simclr.js";
import { NonFiniteLossError } from "../errors.js";
import { warmupCosine } from "../optim/schedule.js";
import type { LoopSettings, StepSettings } from "../recipe/pretraining.js";
import type { Schedule } from "../recipe/recipe.js";
import { asCollectiveError, type ProcessGroup } from "../distributed/process-group.js";
import { checkpointName, checkpointsDir, saveCheckpoint } from "../run/checkpoint.js";
import { join } from "node:path";
import { tensor } from "../tensor/factory.js";
import type { DataParallel } from "./data-parallel.js";
import { appendJsonLine, runFiles } from "../run/run-dir.js";
import { failpoint } from "../run/failpoint.js";
import { isAllFinite } from "../tensor/finite.js";
import { noGrad } from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import type { SimCLRModel } from "../models/simclr.js";
import type { ProgressReporter } from "../io/progress.js";
import { reportStep } from "./progress.js";
import { simclrForward, type SimclrStepOptions, type SimclrStepOutput } from "./simclr-step.js";

/** A step's forward on a batch of images: SimCLR's (NT-Xent) or distillation's. */
export type StepForward = (model: SimCLRModel, augment: SimCLRAugment, images: Tensor, options: SimclrStepOptions) => SimclrStepOutput;
import type { TrainState } from "./state.js";

export interface PretrainLoopOptions {
  /** The run directory: metrics.jsonl is appended to, checkpoints/ written. */
  runDir: string;
  /** The step's options (recipe/pretraining.ts stepSettings). */
  step: StepSettings;
  /** Epochs, logging and checkpoint cadence, and the config stored in checkpoints. */
  loop: LoopSettings;
  schedule: Schedule;
  augment: SimCLRAugment;
  progress: ProgressReporter;
  /** Polled after every step: true saves a checkpoint and returns "stopped" (signals). */
  shouldStop?: () => boolean;
  /** Stop after this many steps in this call, saving a checkpoint (tests, time budgets). */
  stopAfterSteps?: number;
  /** The checkpoint the state was loaded from, named if the loss diverges before the next. */
  lastCheckpoint?: string;
  /**
   * The step's forward and loss, and the metrics.jsonl key of its figure (default:
   * simclrForward, NT-Xent, "contrastive_acc"); distillation passes its own (distill-step.ts).
   * Whatever it is, the loop does the rest the same way.
   */
  objective?: { forward: StepForward; metric: string };
  /**
   * Data parallelism: the group of ranks and the gradient averaging. Every rank runs this
   * loop on its slice of each global batch; only rank 0 writes metrics and checkpoints and
   * runs the callbacks. The loss logged is the global batch's.
   */
  parallel?: { group: ProcessGroup; dataParallel: DataParallel };
}

export interface PretrainResult {
  /** Why the run ended: finished, or stopped (shouldStop or stopAfterSteps). */
  status: "finished" | "stopped";
  globalStep: number;
  /** The last checkpoint written (or loaded). */
  checkpoint: string;
  model: SimCLRModel;
}

/** Runs pretraining from `state` to the schedule's last step, or until asked to stop. */
export async function runPretrainLoop(state: TrainState, options: PretrainLoopOptions): Promise<PretrainResult> {
  const { loop, schedule, augment, progress } = options;
  const { model, optimizer, loader } = state;
  const group = options.parallel?.group;
  const main = group === undefined || group.rank === 0;
  const callbacks = main ? state.callbacks : [];
  const metricsPath = runFiles(options.runDir).metrics;
  const appendMetrics = (record: Record<string, unknown>) => {
    if (!main) return;
    appendJsonLine(metricsPath, record);
    for (const c of callbacks) c.onMetrics?.(record);
  };
  // The run is schedule.totalSteps long: train.epochs whole epochs, or a budget of views that
  // may end inside an epoch (its last epoch is then partial).
  const epochs = Math.ceil(schedule.totalSteps / loader.batchesPerEpoch);
  const finished = () => state.globalStep >= schedule.totalSteps;
  const local = loader.batchSize / loader.worldSize;
  const stepOptions = {
    ...options.step,
    ...(group !== undefined ? { shard: { group, globalBatch: loader.batchSize, offset: loader.rank * local } } : {}),
  };
  /** True on every rank when `flag` is true on any (a max all-reduce); `flag` itself in one process. */
  const anyRank = (flag: boolean): boolean => {
    if (group === undefined) return flag;
    const t = tensor([flag ? 1 : 0], { dtype: "float64", device: group.device });
    try {
      group.allReduce([t], "max");
      return t.item() > 0;
    } finally {
      t.dispose();
    }
  };
  let lastCheckpoint = options.lastCheckpoint ?? "";
  // The first images of this call's first batch: each checkpoint's health check (below).
  let probe: Tensor | undefined;
  const lastGood = () => (lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint}.` : "No checkpoint was written yet.");
  /**
   * A checkpoint is written only when it is good: every weight and buffer finite, and finite h
   * on the probe batch with BN in inference mode. A diverging run can keep a finite loss (the
   * batch statistics hide it) while its weights grow to 1e18 and its running statistics make
   * every feature infinite; saving that as "latest" would hand it to embed, index and export.
   */
  const unhealthy = (): string | null => {
    for (const [name, t] of model.stateDict()) if (!isAllFinite(t)) return `the weights became non-finite ('${name}')`;
    if (probe === undefined) return null;
    const images = probe;
    const finite = tidy(() => model.inInferenceMode(() => noGrad(() => isAllFinite(model.call(images).h))));
    return finite ? null : `the weights give NaN or infinite features on a probe batch (BN in inference mode)`;
  };
  /** `epoch`: the 1-based epoch the step belongs to (at an epoch's end the loader has moved on). */
  const checkpoint = (epoch = loader.epoch + 1): string => {
    let why = unhealthy();
    // every rank stops together, whichever found it
    if (anyRank(why !== null) && why === null) why = "another rank found non-finite weights or probe features";
    if (why !== null) {
      throw new NonFiniteLossError(
        state.globalStep,
        `${why} at step ${state.globalStep} (epoch ${epoch}): stopping without writing a checkpoint. ${lastGood()}` +
          " Try a lower optim.lr or train.precision fp32.",
      );
    }
    const counters = state.counters();
    lastCheckpoint = main
      ? saveCheckpoint(options.runDir, { ...counters, config: loop.checkpointConfig, createdAt: new Date().toISOString() }, state.stateDict())
      : join(checkpointsDir(options.runDir), checkpointName(counters));
    return lastCheckpoint;
  };

  try {
    const started = performance.now();
    const stepsAtStart = state.globalStep;
    while (!finished()) {
      // 1) one step at the scheduled learning rate
      const lr = warmupCosine(state.globalStep, { peak: schedule.peak, totalSteps: schedule.totalSteps, warmupSteps: schedule.warmupSteps });
      optimizer.lr = lr;
      const t0 = performance.now();
      const { loss, accuracy } = asCollectiveError(group, () =>
        tidy(() => {
          const batch = loader.next(); // images (B, C, H, W) in [0, 1]
          probe ??= keep(batch.images.narrow(0, 0, Math.min(16, batch.images.size(0))).clone()); // (<= 16, C, H, W)
          const out = (options.objective?.forward ?? simclrForward)(model, augment, batch.images, stepOptions);
          let value = out.loss.item();
          let accuracy = out.accuracy;
          if (group !== undefined) {
            // the global batch's loss and accuracy: the mean of the ranks' (equal-sized slices)
            const stats = tensor([value, accuracy], { dtype: "float64", device: group.device }); // (2)
            group.allReduce([stats]);
            const [meanLoss, meanAccuracy] = Array.from(stats.div(group.size).dataAsNumbers());
            value = meanLoss ?? Number.NaN;
            accuracy = meanAccuracy ?? Number.NaN;
          }
          if (!Number.isFinite(value)) {
            throw new NonFiniteLossError(
              state.globalStep + 1,
              `the loss became ${value} at step ${state.globalStep + 1} (epoch ${loader.epoch + 1}): stopping. ` +
                lastGood() +
                " Try a lower optim.lr or train.precision fp32.",
            );
          }
          out.backward();
          failpoint("step");
          for (const c of callbacks) c.onBatch?.({ h: out.h, labels: batch.labels });
          return { loss: value, accuracy };
        }),
      );
      options.parallel?.dataParallel.averageGradients();
      optimizer.step();
      optimizer.zeroGrad();
      state.globalStep++;
      state.epochLossSum += loss;
      state.epochSteps++;
      const epoch = loader.epoch;
      const stepInEpoch = loader.batchInEpoch;
      for (const c of callbacks) c.onStepEnd?.({ globalStep: state.globalStep, epoch, stepInEpoch, loss, accuracy, lr, model });

      // 2) progress and metrics
      const viewsPerSecond = (2 * loader.batchSize) / ((performance.now() - t0) / 1000);
      const elapsed = (performance.now() - started) / 1000;
      const secondsPerStep = elapsed / (state.globalStep - stepsAtStart);
      if (main)
        reportStep(progress, {
          epoch,
          epochs,
          step: stepInEpoch,
          stepsPerEpoch: loader.batchesPerEpoch,
          loss,
          accuracy,
          lr,
          viewsPerSecond,
          etaSeconds: secondsPerStep * (schedule.totalSteps - state.globalStep),
        });
      if (state.globalStep % loop.logEvery === 0 || loader.epochDone || finished()) {
        appendMetrics({
          step: state.globalStep,
          epoch: epoch + 1,
          loss,
          [options.objective?.metric ?? "contrastive_acc"]: accuracy,
          lr,
          views_per_s: Number(viewsPerSecond.toFixed(1)),
          elapsed_s: Number(elapsed.toFixed(1)),
        });
      }

      // 3) the end of an epoch: callbacks' metrics, the next epoch, maybe a checkpoint
      let saved = false;
      if (loader.epochDone || finished()) {
        const meanLoss = state.epochLossSum / Math.max(1, state.epochSteps);
        const summary: Record<string, unknown> = { step: state.globalStep, epoch: epoch + 1, epoch_loss: meanLoss };
        for (const c of callbacks) Object.assign(summary, c.onEpochEnd?.({ epoch, model }) ?? {});
        appendMetrics(summary);
        if (loader.epochDone) loader.nextEpoch();
        state.epochLossSum = 0;
        state.epochSteps = 0;
        const monitors = Object.entries(summary).filter(([k]) => !["step", "epoch", "epoch_loss"].includes(k));
        const extra = monitors.map(([k, v]) => `, ${k} ${typeof v === "number" ? v.toFixed(4) : String(v)}`).join("");
        if (finished() || loader.epoch % loop.checkpointEvery === 0) {
          saved = true;
          const dir = checkpoint(epoch + 1);
          if (main) progress.message(`epoch ${epoch + 1}/${epochs} done, mean loss ${meanLoss.toFixed(4)}${extra}; checkpoint ${dir}`);
        } else if (main) {
          progress.message(`epoch ${epoch + 1}/${epochs} done, mean loss ${meanLoss.toFixed(4)}${extra}`);
        }
      }

      // 4) a requested stop: after a checkpoint, unless the run has just finished
      await nextTurn(); // lets SIGINT/SIGTERM handlers run between steps
      // every rank stops at the same step: a signal may reach them a step apart
      const stop = anyRank(
        (options.shouldStop?.() ?? false) || (options.stopAfterSteps !== undefined && state.globalStep - stepsAtStart >= options.stopAfterSteps),
      );
      if (stop && !finished()) {
        const dir = saved ? lastCheckpoint : checkpoint();
        group?.barrier(); // no rank leaves before rank 0 has written the checkpoint
        if (main) progress.message(`stopped at step ${state.globalStep}; checkpoint ${dir} (the run can be resumed from it)`);
        return { status: "stopped", globalStep: state.globalStep, checkpoint: dir, model };
      }
    }
    group?.barrier(); // the last checkpoint is written before any rank leaves
    return { status: "finished", globalStep: state.globalStep, checkpoint: lastCheckpoint, model };
  } finally {
    probe?.dispose();
  }
}
