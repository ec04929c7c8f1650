/**
 * Timing full pretraining steps (augment both views, forward, NT-Xent, backward, optimizer)
 * on random images shaped like the configured data set, after a warm-up, and the
 * augmentation alone. The images are made in [0, 1] once, as the loader gives them.
 */
import type { Config } from "../config/schema.js";
import { toUnitFloat } from "../data/loader.js";
import { dataShape } from "../recipe/recipe.js";
import { buildPretraining } from "../recipe/pretraining.js";
import { joinGroup, setWorkerThreads, workerDevice } from "./worker.js";
import { randint } from "../tensor/factory.js";
import {
  cpuAllocatorStats,
  cudaMemoryStats,
  cudaSynchronize,
  getNumThreads,
  manualSeed,
  profileOps,
  resetCudaPeakMemory,
  setCudaSyncDebugMode,
} from "../tensor/runtime.js";
import { keep, tidy } from "../tensor/scope.js";
import { simclrForward, simclrViews } from "../train/simclr-step.js";
import { contrastiveLoss, embed } from "../train/contrastive.js";
import { ConfigError } from "../errors.js";
import type { LaunchEnv } from "../distributed/launch-env.js";
import { syncBatchNorm } from "../nn/batchnorm.js";
import { DataParallel } from "../train/data-parallel.js";
import { checkConfig } from "../config/load.js";

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

export interface BenchResult {
  /** Views per second of the whole job (all ranks). */
  views_per_s: number;
  augment_views_per_s: number;
  step_ms: number;
  /** This process's peak resident memory after the timed steps (Node, libtorch and the step), MiB. */
  peak_rss_mib: number;
  /** Peak resident memory before the first step (Node, libtorch, model, images), MiB: peak minus this is the step's own. */
  baseline_rss_mib: number;
  /** The caching CPU allocator's peak bytes handed out and mapped, MiB, and segments mapped during the timed steps (0 in a steady state); null under SIMCLR_MALLOC=glibc|default. */
  cpu_allocator: { peak_live_mib: number; peak_reserved_mib: number; segments_mapped_in_timed_steps: number } | null;
  /** On a GPU: the CUDA caching allocator's peaks during the timed steps, MiB, and its retries (cudaMalloc failed and the cache was freed). */
  cuda_memory?: { peak_allocated_mib: number; peak_reserved_mib: number; alloc_retries: number };
  /** With `syncCheck` on a GPU: whether a step made the host wait for the GPU, and the first operation that did. */
  host_sync?: { synchronises: boolean; steps_checked: number; first?: string };
  /** With several processes: the median time of the gradient all-reduce within a step. */
  allreduce_ms?: number;
  /** With `profile`: the step's phases (median ms, no profiler running) and its top operators per step (libtorch's profiler). */
  profile?: StepProfile;
  config: Record<string, unknown>;
}

export interface StepProfile {
  phases_ms: Record<"augment" | "forward" | "loss" | "backward" | "optimizer", number>;
  /** The operators with the most self time, per step: calls, self and total (with children) ms. */
  top_ops: { name: string; calls: number; self_ms: number; total_ms: number }[];
  /** Wall time of a step with the profiler on (its overhead included). */
  profiled_step_ms: number;
}

/** Times pretraining steps; with `launch`, as one rank of a data-parallel job (train.batchSize global). */
export function benchSteps(
  config: Config,
  options: { steps: number; warmup: number; launch?: LaunchEnv | null; profile?: boolean; syncCheck?: boolean },
): BenchResult {
  checkConfig(config, "benchSteps(config)");
  const launch = options.launch ?? null;
  setWorkerThreads(config, launch);
  manualSeed(config.train.seed);
  const device = workerDevice(config, launch);
  const onGpu = device.startsWith("cuda");
  if (options.syncCheck && !onGpu) throw new ConfigError("bench's sync check is of a step on a GPU: set train.device=cuda", "train.device");
  const b = config.train.batchSize;
  const world = launch?.worldSize ?? 1;
  const local = b / world;
  const [channels, side] = dataShape(config);
  const images = keep(tidy(() => toUnitFloat(randint(0, 256, [local, channels, side, side], { dtype: "uint8", device })))); // (B / W, C, S, S)
  const { model, optimizer, augment, step: settings, dataParallel } = buildPretraining(config, { inChannels: channels, device });
  const group = launch === null ? null : joinGroup(config, launch, device);
  if (group !== null && config.model.syncBN) syncBatchNorm(model, group);
  const parallel = group === null ? null : new DataParallel(model, group, dataParallel.bucketBytes, dataParallel.overlap);
  optimizer.lr = 0.01;
  const stepOptions = {
    ...settings,
    ...(group !== null ? { shard: { group, globalBatch: b, offset: group.rank * local } } : {}),
  };
  const allreduceTimes: number[] = [];

  const step = () => {
    tidy(() => simclrForward(model, augment, images, stepOptions).backward());
    if (parallel !== null) {
      const t0 = performance.now();
      parallel.averageGradients();
      allreduceTimes.push(performance.now() - t0);
    }
    optimizer.step();
    optimizer.zeroGrad();
  };
  // On a GPU the host only queues kernels: each timed call ends by waiting for them.
  const timeIt = (fn: () => void, n: number) => {
    const times: number[] = [];
    if (onGpu) cudaSynchronize();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      fn();
      if (onGpu) cudaSynchronize();
      times.push(performance.now() - t0);
    }
    return times;
  };
  /** Runs steps with CUDA's sync debug mode at "error": the first host synchronisation throws. */
  const checkSync = (n: number): NonNullable<BenchResult["host_sync"]> => {
    cudaSynchronize();
    const previous = setCudaSyncDebugMode("error");
    try {
      for (let i = 0; i < n; i++) step();
      return { synchronises: false, steps_checked: n };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!message.includes("synchronizing CUDA operation")) throw e;
      return { synchronises: true, steps_checked: n, first: message };
    } finally {
      setCudaSyncDebugMode(previous ?? "off");
      optimizer.zeroGrad();
    }
  };
  /** One step in its phases, each timed (CPU ops are synchronous: a phase's time is its own). */
  const phasedStep = (times: Record<keyof StepProfile["phases_ms"], number[]>) => {
    let t = performance.now();
    const lap = (phase: keyof StepProfile["phases_ms"]) => {
      const now = performance.now();
      times[phase].push(now - t);
      t = now;
    };
    tidy(() => {
      const views = simclrViews(augment, images, stepOptions); // (2B, C, S, S)
      lap("augment");
      const { z } = embed(model, views, stepOptions); // (2B, outDim)
      lap("forward");
      const { loss } = contrastiveLoss(z, views.size(0) / 2, stepOptions);
      lap("loss");
      loss.backward();
      lap("backward");
    });
    optimizer.step();
    optimizer.zeroGrad();
    lap("optimizer");
  };
  try {
    const baselineRssMib = Math.round(process.resourceUsage().maxRSS / 1024);
    timeIt(step, options.warmup);
    const mappedBefore = cpuAllocatorStats()?.segmentsMapped ?? 0;
    if (onGpu) resetCudaPeakMemory(device);
    const stepTimes = timeIt(step, options.steps);
    const alloc = cpuAllocatorStats();
    const gpuMemory = onGpu ? cudaMemoryStats(device) : null;
    const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
    const hostSync = options.syncCheck ? checkSync(Math.max(2, Math.min(5, options.steps))) : undefined;
    const peakRssMib = Math.round(process.resourceUsage().maxRSS / 1024); // after the steps, before the profiler's own memory
    let profile: StepProfile | undefined;
    if (options.profile) {
      if (parallel !== null || config.train.precision !== "fp32") throw new ConfigError("bench's profile is of the one-process fp32 step", "train.precision");
      const times = { augment: [], forward: [], loss: [], backward: [], optimizer: [] } as Record<keyof StepProfile["phases_ms"], number[]>;
      for (let i = 0; i < options.steps; i++) phasedStep(times);
      const n = Math.max(1, Math.min(3, options.steps));
      const started = performance.now();
      const { ops } = profileOps(() => {
        for (let i = 0; i < n; i++) phasedStep({ augment: [], forward: [], loss: [], backward: [], optimizer: [] });
      });
      const ms = (us: number) => Number((us / 1000 / n).toFixed(2));
      profile = {
        phases_ms: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Number(median(v).toFixed(1))])) as StepProfile["phases_ms"],
        top_ops: ops.slice(0, 25).map((o) => ({ name: o.name, calls: o.calls / n, self_ms: ms(o.selfUs), total_ms: ms(o.totalUs) })),
        profiled_step_ms: Number(((performance.now() - started) / n).toFixed(1)),
      };
    }
    const augmentOnce = () => tidy(() => void augment.view(images));
    timeIt(augmentOnce, 3);
    const augmentTimes = timeIt(augmentOnce, Math.max(20, options.steps));
    const stepMs = median(stepTimes);
    return {
      views_per_s: Number(((2 * b) / (stepMs / 1000)).toFixed(1)),
      augment_views_per_s: Number((local / (median(augmentTimes) / 1000)).toFixed(0)),
      step_ms: Number(stepMs.toFixed(1)),
      peak_rss_mib: peakRssMib,
      baseline_rss_mib: baselineRssMib,
      cpu_allocator:
        alloc === null
          ? null
          : {
              peak_live_mib: mib(alloc.peakLiveBytes),
              peak_reserved_mib: mib(alloc.peakReservedBytes),
              segments_mapped_in_timed_steps: alloc.segmentsMapped - mappedBefore,
            },
      ...(gpuMemory !== null
        ? {
            cuda_memory: {
              peak_allocated_mib: mib(gpuMemory.peakAllocatedBytes),
              peak_reserved_mib: mib(gpuMemory.peakReservedBytes),
              alloc_retries: gpuMemory.numAllocRetries,
            },
          }
        : {}),
      ...(hostSync !== undefined ? { host_sync: hostSync } : {}),
      ...(parallel !== null ? { allreduce_ms: Number(median(allreduceTimes.slice(-options.steps)).toFixed(2)) } : {}),
      ...(profile !== undefined ? { profile } : {}),
      config: {
        data: config.data.name,
        arch: config.model.arch,
        width: config.model.width,
        batch: b,
        processes: world,
        image: [channels, side, side],
        precision: config.train.precision,
        threads: getNumThreads(),
        device,
      },
    };
  } finally {
    images.dispose();
    optimizer.dispose();
    parallel?.dispose();
    group?.destroy();
  }
}
