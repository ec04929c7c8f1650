/** Process-wide libtorch settings: threads, seeds, grad mode, autocast, devices. */
import { availableParallelism } from "node:os";
import { native, type CpuAllocatorStats, type CudaMemoryStats } from "../native.js";
import { dtypeCode, type DType } from "./dtype.js";
import { Tensor } from "./tensor.js";
import { ArgumentError } from "../errors.js";

/** Intra-op threads libtorch uses for one operator. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`setNumThreads: expected a positive integer, got ${n}`);
  native.setNumThreads(n);
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

/**
 * The caching CPU allocator's counters, or null when SIMCLR_MALLOC (or glibc's MALLOC_*
 * variables) chose another allocator. Blocks under 1 MiB are malloc's and not counted.
 */
export function cpuAllocatorStats(): CpuAllocatorStats | null {
  return native.cpuAllocatorStats();
}

/**
 * libtorch picks 1 thread on some VMs (2-core ones here), which halves speed. Default to
 * every core, or SIMCLR_NUM_THREADS when set.
 */
function defaultThreads(): number {
  const fromEnv = process.env.SIMCLR_NUM_THREADS;
  if (fromEnv !== undefined && fromEnv !== "") {
    const n = Number(fromEnv);
    if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`SIMCLR_NUM_THREADS must be a positive integer, got '${fromEnv}'`);
    return n;
  }
  return availableParallelism();
}
setNumThreads(defaultThreads());

/** Seeds libtorch's default generators (CPU and CUDA), making random draws repeatable. */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0) throw new ArgumentError(`manualSeed: expected a non-negative integer, got ${seed}`);
  native.manualSeed(seed);
}

/** The default generator's state for `device` (a uint8 tensor), to save with a checkpoint. */
export function getRngState(device = "cpu"): Tensor {
  return new Tensor(native.rngState(device));
}

export function setRngState(state: Tensor, device = "cpu"): void {
  native.setRngState(device, state.id);
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = native.isGradEnabled();
  native.setGradEnabled(enabled);
  try {
    const result = fn();
    if (result instanceof Promise) throw new ArgumentError("noGrad()/enableGrad() take a synchronous function");
    return result;
  } finally {
    native.setGradEnabled(previous);
  }
}

/** Runs `fn` without recording operations for autograd (evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with autograd recording, inside a noGrad scope. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

/**
 * Runs `fn` under libtorch's autocast: eligible ops (convolutions, matmuls) run in `dtype`
 * (bfloat16 on CPU, float16 or bfloat16 on CUDA), the rest in float32, as torch.autocast.
 */
export function autocast<T>(fn: () => T, options: { device?: "cpu" | "cuda"; dtype?: DType } = {}): T {
  const device = options.device ?? "cpu";
  const dtype = options.dtype ?? (device === "cpu" ? "bfloat16" : "float16");
  native.setAutocast(device, true, dtypeCode(dtype));
  try {
    return fn();
  } finally {
    native.setAutocast(device, false, dtypeCode(dtype));
  }
}

export function cudaAvailable(): boolean {
  return native.cudaDeviceCount() > 0;
}

export function cudaDeviceCount(): number {
  return native.cudaDeviceCount();
}

/** Native tensors alive now (ids not yet disposed) (for leak checks). */
export function liveTensorCount(): number {
  return native.liveTensors();
}

/** The libtorch version this package is running on, and its threading setup. */
export function libtorchInfo(): { torch: string; parallel: string } {
  return native.version();
}

/** One operator's share of a profiled region: calls, and CPU time with and without its children. */
export interface OpProfile {
  name: string;
  calls: number;
  totalUs: number;
  selfUs: number;
}

/**
 * Runs `fn` under libtorch's operator profiler (the one torch.autograd.profiler wraps) and
 * returns its result with a row per operator, most self time first. Backward functions appear
 * as "autograd::engine::evaluate_function: ...Backward0" with the ops they call as children.
 * With `withShapes`, a row is an operator at one set of input shapes, its name followed by
 * them ("aten::copy_ [512, 16, 28, 28] [512, 16, 28, 28] []"), to tell which call costs.
 */
export function profileOps<T>(fn: () => T, options: { withShapes?: boolean } = {}): { result: T; ops: OpProfile[] } {
  native.profilerStart(options.withShapes ?? false);
  let stopped = false;
  try {
    const result = fn();
    const ops = native.profilerStop();
    stopped = true;
    return { result, ops: ops.sort((a, b) => b.selfUs - a.selfUs) };
  } finally {
    if (!stopped) native.profilerStop(); // fn threw: the profiler is off again either way
  }
}

/** The GPU index of a device string: "cuda" is the current one (0), "cuda:1" is 1. */
function cudaIndex(device: string): number {
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (m === null) throw new ArgumentError(`expected a CUDA device ("cuda" or "cuda:N"), got ${JSON.stringify(device)}`);
  return Number(m[1] ?? 0);
}

/**
 * The CUDA caching allocator's counters for `device` (torch.cuda.memory_stats()'s aggregate
 * rows), or null in a build of the addon without CUDA.
 */
export function cudaMemoryStats(device = "cuda"): CudaMemoryStats | null {
  return native.cudaMemoryStats(cudaIndex(device));
}

/** Restarts the peaks of cudaMemoryStats (torch.cuda.reset_peak_memory_stats). */
export function resetCudaPeakMemory(device = "cuda"): void {
  native.cudaResetPeakStats(cudaIndex(device));
}

/** Waits for the GPU's queued work (torch.cuda.synchronize); a no-op in a build without CUDA. */
export function cudaSynchronize(): void {
  native.cudaSynchronize();
}

const SYNC_MODES = ["off", "warn", "error"] as const;
export type CudaSyncDebugMode = (typeof SYNC_MODES)[number];

/**
 * torch.cuda.set_sync_debug_mode: with "error", an operation that makes the host wait for the
 * GPU (item(), a copy to the CPU, nonzero, ...) throws "called a synchronizing CUDA operation".
 * Returns the previous mode, or null in a build without CUDA (where nothing is set).
 */
export function setCudaSyncDebugMode(mode: CudaSyncDebugMode): CudaSyncDebugMode | null {
  const level = SYNC_MODES.indexOf(mode);
  if (level < 0) throw new ArgumentError(`setCudaSyncDebugMode: expected one of ${SYNC_MODES.join(", ")}, got ${JSON.stringify(mode)}`);
  const previous = native.cudaSyncDebugMode(level as 0 | 1 | 2);
  return previous === null ? null : (SYNC_MODES[previous] ?? null);
}
