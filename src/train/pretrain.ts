/**
 * SimCLR pretraining (Algorithm 1 of the paper): for each batch, two augmented views of
 * every image, one forward pass of encoder + head over both, NT-Xent, backward, an
 * optimizer step with the warm-up + cosine learning rate. Writes DIR/config.yaml,
 * DIR/metrics.jsonl and checkpoints; resumes exactly from the last checkpoint.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { SimCLRAugment } from "../augment/simclr.js";
import { configFromYaml, configToYaml, flattenConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { loadDataset, type LoadedDataset } from "../data/datasets.js";
import { ntXentLoss } from "../losses/ntxent.js";
import { SimCLRModel } from "../models/simclr.js";
import type { ResNetDepth } from "../models/resnet.js";
import { AdamW } from "../optim/adamw.js";
import { LARS } from "../optim/lars.js";
import type { NamedParameter, Optimizer } from "../optim/optimizer.js";
import { scaledLearningRate, warmupCosine } from "../optim/schedule.js";
import { SGD } from "../optim/sgd.js";
import { cat, randperm, tensor } from "../tensor/factory.js";
import { autocast, getRngState, manualSeed, noGrad, setNumThreads, setRngState } from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { appendJsonLine, latestCheckpoint, loadCheckpoint, saveCheckpoint, truncateJsonLines, type CheckpointState } from "./checkpoint.js";
import { KnnMonitor, OnlineLinearProbe } from "./monitor.js";
import { ProgressReporter } from "./progress.js";

export interface PretrainOptions {
  /** Run directory: config.yaml, metrics.jsonl, checkpoints/. */
  outDir: string;
  /** Continue from the last checkpoint in outDir (its config is used). */
  resume?: boolean;
  /** Where progress goes (default: stderr). */
  progress?: ProgressReporter;
  /** Stop after this many optimizer steps in this call, saving a checkpoint (tests). */
  stopAfterSteps?: number;
  /** Handle SIGINT/SIGTERM by saving and returning (default true). */
  handleSignals?: boolean;
  /** An already-loaded training set (skips loading; used by the bench and tests). */
  data?: LoadedDataset;
  /** Called after every optimizer step (monitoring, tests). */
  onStep?: (info: { globalStep: number; epoch: number; loss: number; model: SimCLRModel }) => void;
}

export interface PretrainResult {
  /** Why the run ended: finished, stopped (signal or stopAfterSteps). */
  status: "finished" | "stopped";
  globalStep: number;
  checkpoint: string;
  model: SimCLRModel;
}

export class NonFiniteLossError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NonFiniteLossError";
  }
}

export function buildModel(config: Config, inChannels: number): SimCLRModel {
  return new SimCLRModel({
    depth: Number(config.model.arch.replace("resnet", "")) as ResNetDepth,
    width: config.model.width,
    cifarStem: config.model.cifarStem,
    inChannels,
    zeroInitResidual: config.model.zeroInitResidual,
    headLayers: config.head.layers,
    outDim: config.head.outDim,
  });
}

export function buildAugment(config: Config): SimCLRAugment {
  const a = config.augment;
  return new SimCLRAugment({
    preset: a.preset,
    size: a.size,
    ...(a.jitterStrength !== null ? { jitterStrength: a.jitterStrength } : {}),
    ...(a.cropMinScale !== null ? { cropScale: [a.cropMinScale, 1] as [number, number] } : {}),
    ...(a.blurProbability !== null ? { blurProbability: a.blurProbability } : {}),
  });
}

export function buildOptimizer(config: Config, params: NamedParameter[]): Optimizer {
  const o = config.optim;
  switch (o.name) {
    case "lars":
      return new LARS(params, { lr: 0, momentum: o.momentum, weightDecay: o.weightDecay });
    case "sgd":
      return new SGD(params, { lr: 0, momentum: o.momentum, weightDecay: o.weightDecay });
    case "adamw":
      return new AdamW(params, { lr: 0, weightDecay: o.weightDecay });
  }
}

/** Warm-up length: as configured, else the paper's 10 epochs capped at a tenth of the run. */
export function warmupEpochs(config: Config): number {
  return config.train.warmupEpochs ?? Math.min(10, config.train.epochs / 10);
}

/** The schedule of a run: steps per epoch (last partial batch dropped), totals, peak LR. */
export function scheduleFor(config: Config, images: number): { stepsPerEpoch: number; totalSteps: number; warmupSteps: number; peak: number } {
  const b = config.train.batchSize;
  const stepsPerEpoch = Math.floor(images / b);
  if (stepsPerEpoch === 0) throw new Error(`the training set has ${images} images, fewer than train.batchSize ${b}`);
  return {
    stepsPerEpoch,
    totalSteps: stepsPerEpoch * config.train.epochs,
    warmupSteps: Math.round(warmupEpochs(config) * stepsPerEpoch),
    peak: scaledLearningRate(config.optim.lr, b, config.optim.lrScaling),
  };
}

/**
 * One SimCLR step's forward and loss on a uint8 batch: the loss tensor, the contrastive
 * accuracy, and h (2B, featureDim) of both views (for monitors; detach before use).
 */
export function simclrLoss(model: SimCLRModel, augment: SimCLRAugment, batch: Tensor, config: Config): { loss: Tensor; accuracy: number; h: Tensor } {
  const views = noGrad(() => cat([augment.view(batch), augment.view(batch)])); // (2B, C, S, S)
  const forward = () => model.forward(views);
  const { h, z } = config.train.precision === "bf16" ? autocast(forward, { device: views.device.startsWith("cuda") ? "cuda" : "cpu", dtype: "bfloat16" }) : forward();
  // The loss runs in float32 whatever the forward's precision.
  return { ...ntXentLoss(z.to("float32"), { temperature: config.loss.temperature }), h };
}

function rngToBase64(): string {
  const state = getRngState();
  const bytes = Buffer.from(state.data() as Uint8Array);
  state.dispose();
  return bytes.toString("base64");
}

function rngFromBase64(text: string): void {
  const state = tensor(new Uint8Array(Buffer.from(text, "base64")));
  setRngState(state);
  state.dispose();
}

export async function pretrain(config: Config, options: PretrainOptions): Promise<PretrainResult> {
  const { outDir } = options;
  const progress = options.progress ?? new ProgressReporter(process.stderr, config.train.logEvery * 5);
  mkdirSync(outDir, { recursive: true });
  const metricsPath = join(outDir, "metrics.jsonl");
  const configPath = join(outDir, "config.yaml");

  let resumeFrom: ReturnType<typeof loadCheckpoint> | null = null;
  if (options.resume) {
    const dir = latestCheckpoint(outDir);
    if (dir === null) throw new Error(`--resume: ${outDir} has no checkpoint to resume from (checkpoints/latest is missing)`);
    resumeFrom = loadCheckpoint(dir);
    if (existsSync(configPath)) config = configFromYaml(readFileSync(configPath, "utf-8"), configPath);
  } else if (latestCheckpoint(outDir) !== null) {
    throw new Error(`${outDir} already holds a run with checkpoints: pass --resume to continue it, or choose another --out`);
  }
  writeFileSync(configPath, configToYaml(config));

  if (config.train.threads !== null) setNumThreads(config.train.threads);
  manualSeed(config.train.seed);
  const device = config.train.device;

  let lastTenth = -1;
  const data = options.data ?? (await loadDataset(config.data, "train", (done, total) => {
    const tenth = Math.floor((10 * done) / total);
    if (tenth !== lastTenth) progress.message(`decoding images: ${done}/${total}`);
    lastTenth = tenth;
  }));
  if (data.skipped > 0) progress.message(`skipped ${data.skipped} unreadable image(s) (data.skipBad)`);
  const images = data.images; // (N, C, H, W) uint8
  const [n, channels] = images.shape as [number, number];
  const { stepsPerEpoch, totalSteps, warmupSteps, peak } = scheduleFor(config, n);
  const batchSize = config.train.batchSize;

  const model = buildModel(config, channels).to(device).train();
  const optimizer = buildOptimizer(config, model.namedParameters());
  const augment = buildAugment(config);
  const probe = config.monitor.linearProbe && data.labeled ? new OnlineLinearProbe(model.encoder.featureDim, data.classes.length, device) : null;
  const knn = config.monitor.knnEvery > 0 && data.labeled ? await knnMonitor(config, data, progress) : null;

  let epoch = 0;
  let stepInEpoch = 0;
  let globalStep = 0;
  let order: Tensor | null = null;
  let lastCheckpoint = "";
  if (resumeFrom !== null) {
    const s = resumeFrom.state;
    model.loadStateDict(resumeFrom.model);
    optimizer.loadStateDict(resumeFrom.optimizer);
    probe?.loadStateDict(resumeFrom.optimizer);
    optimizer.steps = s.optimizer.steps;
    epoch = s.epoch;
    stepInEpoch = s.stepInEpoch;
    globalStep = s.globalStep;
    const savedOrder = resumeFrom.optimizer.get("data.order");
    if (stepInEpoch > 0 && savedOrder !== undefined) order = keep(savedOrder.clone());
    rngFromBase64(s.rngState);
    truncateJsonLines(metricsPath, globalStep);
    lastCheckpoint = resumeFrom.dir;
    progress.message(`resuming ${outDir} at epoch ${epoch + 1}, step ${globalStep} (${resumeFrom.dir})`);
  } else {
    writeFileSync(metricsPath, "");
  }

  const checkpoint = (): string => {
    const state: CheckpointState = {
      epoch,
      stepInEpoch,
      globalStep,
      rngState: rngToBase64(),
      optimizer: { name: config.optim.name, steps: optimizer.steps },
      config: Object.fromEntries(flattenConfig(config)),
      createdAt: new Date().toISOString(),
    };
    const buffers = new Map([...optimizer.stateDict(), ...(probe?.stateDict() ?? [])]);
    if (order !== null && stepInEpoch > 0) buffers.set("data.order", order);
    lastCheckpoint = saveCheckpoint(outDir, state, model.stateDict(), buffers);
    return lastCheckpoint;
  };

  let stopRequested = false;
  const onSignal = (signal: string) => {
    stopRequested = true;
    progress.message(`${signal}: saving a checkpoint after this step, then stopping`);
  };
  const handlers = { SIGINT: () => onSignal("SIGINT"), SIGTERM: () => onSignal("SIGTERM") };
  if (options.handleSignals ?? true) {
    process.on("SIGINT", handlers.SIGINT);
    process.on("SIGTERM", handlers.SIGTERM);
  }

  const started = performance.now();
  const stepsAtStart = globalStep;
  let stepsThisCall = 0;
  try {
    for (; epoch < config.train.epochs; epoch++) {
      if (order === null) order = keep(randperm(n));
      let epochLoss = 0;
      let epochSteps = 0;
      for (; stepInEpoch < stepsPerEpoch; ) {
        const lr = warmupCosine(globalStep, { peak, totalSteps, warmupSteps });
        optimizer.lr = lr;
        const t0 = performance.now();
        const { loss, accuracy } = tidy(() => {
          const idx = (order as Tensor).narrow(0, stepInEpoch * batchSize, batchSize);
          const batch = images.indexSelect(0, idx).to(device); // (B, C, H, W) uint8
          const out = simclrLoss(model, augment, batch, config);
          const value = out.loss.item();
          if (!Number.isFinite(value)) {
            throw new NonFiniteLossError(
              `the loss became ${value} at step ${globalStep + 1} (epoch ${epoch + 1}): stopping. ` +
                (lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint}.` : "No checkpoint was written yet.") +
                " Try a lower optim.lr or train.precision fp32.",
            );
          }
          out.loss.backward();
          if (probe !== null) {
            const labels = data.labels.indexSelect(0, idx).to(device); // (B)
            probe.step(out.h, cat([labels, labels])); // h.detach() inside: the encoder is not trained by it
          }
          return { loss: value, accuracy: out.accuracy };
        });
        optimizer.step();
        optimizer.zeroGrad();
        stepInEpoch++;
        globalStep++;
        stepsThisCall++;
        epochLoss += loss;
        epochSteps++;
        options.onStep?.({ globalStep, epoch, loss, model });
        const seconds = (performance.now() - t0) / 1000;
        const viewsPerSecond = (2 * batchSize) / seconds;
        const elapsed = (performance.now() - started) / 1000;
        const rate = elapsed / (globalStep - stepsAtStart);
        progress.update({ epoch, epochs: config.train.epochs, step: stepInEpoch, stepsPerEpoch, loss, accuracy, lr, viewsPerSecond, etaSeconds: rate * (totalSteps - globalStep) });
        if (globalStep % config.train.logEvery === 0 || stepInEpoch === stepsPerEpoch) {
          appendJsonLine(metricsPath, { step: globalStep, epoch: epoch + 1, loss, contrastive_acc: accuracy, lr, views_per_s: Number(viewsPerSecond.toFixed(1)), elapsed_s: Number(elapsed.toFixed(1)) });
        }
        await nextTurn(); // lets SIGINT/SIGTERM handlers run between steps
        const stopForTest = options.stopAfterSteps !== undefined && stepsThisCall >= options.stopAfterSteps;
        if ((stopRequested || stopForTest) && !(stepInEpoch === stepsPerEpoch && epoch === config.train.epochs - 1)) {
          if (stepInEpoch === stepsPerEpoch) {
            epoch++;
            stepInEpoch = 0;
            order.dispose();
            order = null;
          }
          const dir = checkpoint();
          progress.message(`stopped at step ${globalStep}; checkpoint ${dir}. Continue with --resume.`);
          return { status: "stopped", globalStep, checkpoint: dir, model };
        }
      }
      const summary: Record<string, unknown> = { step: globalStep, epoch: epoch + 1, epoch_loss: epochLoss / Math.max(1, epochSteps) };
      const probeAccuracy = probe?.takeEpochAccuracy() ?? null;
      if (probeAccuracy !== null) summary.probe_acc = probeAccuracy;
      if (knn !== null && (epoch + 1) % config.monitor.knnEvery === 0) {
        const { top1, top5 } = knn.evaluate(model.encoder);
        summary.knn_top1 = top1;
        summary.knn_top5 = top5;
        progress.message(`epoch ${epoch + 1}: kNN top-1 ${(top1 * 100).toFixed(1)}%${probeAccuracy === null ? "" : `, online probe ${(probeAccuracy * 100).toFixed(1)}%`}`);
      }
      appendJsonLine(metricsPath, summary);
      order.dispose();
      order = null;
      stepInEpoch = 0;
      const last = epoch === config.train.epochs - 1;
      if (last || (epoch + 1) % config.train.checkpointEvery === 0) {
        epoch++; // the checkpoint resumes at the next epoch
        const dir = checkpoint();
        epoch--;
        progress.message(`epoch ${epoch + 1}/${config.train.epochs} done, mean loss ${(epochLoss / Math.max(1, epochSteps)).toFixed(4)}; checkpoint ${dir}`);
      }
    }
  } finally {
    process.off("SIGINT", handlers.SIGINT);
    process.off("SIGTERM", handlers.SIGTERM);
  }
  return { status: "finished", globalStep, checkpoint: lastCheckpoint, model };
}

/**
 * The kNN monitor's data: the first monitor.knnSamples training images as the bank, and a
 * fifth as many queries from the test split (from the images after the bank for an image
 * folder, which has no separate split). Null, with a message, when there are no queries.
 */
async function knnMonitor(config: Config, data: LoadedDataset, progress: ProgressReporter): Promise<KnnMonitor | null> {
  const n = data.images.shape[0] as number;
  const bankSize = Math.min(config.monitor.knnSamples, n);
  const querySize = Math.max(1, Math.floor(config.monitor.knnSamples / 5));
  const bank = { images: data.images.narrow(0, 0, bankSize), labels: data.labels.narrow(0, 0, bankSize) };
  let queries: { images: Tensor; labels: Tensor };
  if (config.data.name === "image-folder") {
    if (n - bankSize < 1) {
      progress.message("monitor: no images left after the kNN bank for queries; kNN monitoring is off (lower monitor.knnSamples)");
      return null;
    }
    const count = Math.min(querySize, n - bankSize);
    queries = { images: data.images.narrow(0, bankSize, count), labels: data.labels.narrow(0, bankSize, count) };
  } else {
    try {
      const test = await loadDataset({ ...config.data, limit: querySize }, "test");
      queries = { images: test.images, labels: test.labels };
    } catch (e) {
      progress.message(`monitor: the test split could not be loaded (${(e as Error).message}); kNN monitoring is off`);
      return null;
    }
  }
  return new KnnMonitor(keepBoth(bank), keepBoth(queries), data.classes.length, config.train.device);
}

function keepBoth(x: { images: Tensor; labels: Tensor }): { images: Tensor; labels: Tensor } {
  return { images: keep(x.images), labels: keep(x.labels) };
}
