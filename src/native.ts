/**
 * Loads the libtorch addon (native/, built by `npm run build:native`) and describes its
 * surface. Everything else talks to libtorch through this module.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { addonPath as addonPathOf, PACKAGE_ROOT } from "./native/paths.js";

/**
 * A tensor as JS holds it: a number naming a slot of the addon's tensor table and the slot's
 * generation (see native/tensor_table.cc), so a freed id is reported as disposed, never
 * mistaken for a later tensor.
 */
export type TensorId = number;

/** What an operator call can return: tensor ids, numbers, or lists of them. */
export type NativeResult = TensorId | boolean | string | null | NativeResult[];

/** The caching CPU allocator's counters (blocks of 1 MiB and more; see docs/native.md). */
export interface CpuAllocatorStats {
  /** Bytes handed out to tensors now. */
  liveBytes: number;
  /** Bytes mapped now: handed out, or cached for the next request. */
  reservedBytes: number;
  peakLiveBytes: number;
  peakReservedBytes: number;
  /** Segments mapped so far (a training step in its steady state maps none). */
  segmentsMapped: number;
  /** Segments given back to the system. */
  segmentsUnmapped: number;
}

/** The CUDA caching allocator's counters for one GPU (torch.cuda.memory_stats()'s aggregate rows). */
export interface CudaMemoryStats {
  allocatedBytes: number;
  reservedBytes: number;
  peakAllocatedBytes: number;
  peakReservedBytes: number;
  /** cudaMalloc failures that freed the cache and retried (a sign of memory pressure). */
  numAllocRetries: number;
}

export interface NativeAddon {
  dispose(id: TensorId): void;
  /** Whether a tidy() scope is open: tensors made inside one are not reported to V8. */
  setScopeOpen(open: boolean): void;
  /** Reports a tensor that left every scope to V8 as external memory (once). */
  reportToGc(id: TensorId): void;
  /** V8's total of external memory reported by addons (process.memoryUsage() does not show it). */
  externalMemory(): number;
  isLive(id: TensorId): boolean;
  shape(id: TensorId): number[];
  strides(id: TensorId): number[];
  dtype(id: TensorId): number;
  device(id: TensorId): string;
  numel(id: TensorId): number;
  requiresGrad(id: TensorId): boolean;
  setRequiresGrad(id: TensorId, flag: boolean): void;
  isLeaf(id: TensorId): boolean;
  grad(id: TensorId): TensorId | null;
  setGrad(id: TensorId, grad: TensorId | null): void;
  retainGrad(id: TensorId): void;
  backward(id: TensorId, gradient: TensorId | null, retainGraph: boolean, createGraph: boolean): void;
  toBuffer(id: TensorId): ArrayBuffer;
  fromBuffer(data: ArrayBufferView, shape: number[], dtype: number): TensorId;
  item(id: TensorId): number | boolean;
  adviseStorage(id: TensorId, advice: number): void;
  liveTensors(): number;
  colorJitterCpu(x: TensorId, ops: TensorId, factors: TensorId, apply: TensorId, grayscale: TensorId): void;
  opHandle(name: string, overload: string): number;
  callOp(id: number, ...args: unknown[]): NativeResult;
  callOpDiscard(id: number, ...args: unknown[]): void;
  opSchema(id: number): string;
  setGradEnabled(enabled: boolean): void;
  isGradEnabled(): boolean;
  setAutocast(device: string, enabled: boolean, dtype: number): void;
  manualSeed(seed: number): void;
  rngState(device: string): TensorId;
  setRngState(device: string, state: TensorId): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  profilerStart(withShapes?: boolean): void;
  profilerStop(): { name: string; calls: number; totalUs: number; selfUs: number }[];
  cpuAllocatorStats(): CpuAllocatorStats | null;
  cudaDeviceCount(): number;
  /** The CUDA caching allocator's counters for one GPU; null in a build without CUDA. */
  cudaMemoryStats(device: number): CudaMemoryStats | null;
  cudaResetPeakStats(device: number): void;
  /** Waits for the current GPU's queued work; no-op without CUDA. */
  cudaSynchronize(): void;
  /** torch.cuda.set_sync_debug_mode: 0 off, 1 warn, 2 error. Returns the previous level; null without CUDA. */
  cudaSyncDebugMode(level: 0 | 1 | 2): number | null;
  version(): { torch: string; parallel: string; config: string; library: string | null; cudaAvailable: boolean };
  distInit(options: {
    host: string;
    port: number;
    rank: number;
    size: number;
    timeoutMs: number;
    backend: string;
    isServer: boolean;
    device: string;
    prefix: string;
  }): number;
  distDestroy(group: number): void;
  distAllReduce(group: number, tensors: TensorId[], op?: string, async?: boolean): number | undefined;
  distWait(work: number): void;
  distBroadcast(group: number, tensors: TensorId[], root: number): void;
  distAllGather(group: number, tensor: TensorId): TensorId;
  distAllGatherGrad(group: number, tensor: TensorId): TensorId;
  distBarrier(group: number): void;
  distSyncBatchNorm(
    group: number,
    x: TensorId,
    weight: TensorId | null,
    bias: TensorId | null,
    runningMean: TensorId | null,
    runningVar: TensorId | null,
    momentum: number,
    eps: number,
  ): TensorId;
  distHasNccl(): boolean;
  distHasGloo(): boolean;
  distBucketsInstall(group: number, buckets: TensorId[][]): number;
  distBucketsFinish(buckets: number): number;
  distBucketsRelease(buckets: number): void;
}

const packageRoot = PACKAGE_ROOT;
const addonPath = addonPathOf();

function load(): NativeAddon {
  if (!existsSync(addonPath)) {
    throw new Error(
      `simclr: the native addon is not built (${addonPath} is missing). ` +
        `Its install step builds it: \`npm rebuild simclr\` in a project that depends on it, or \`bash scripts/setup.sh\` in a clone of ${packageRoot}; \`simclr doctor\` says what is missing.`,
    );
  }
  const require = createRequire(import.meta.url);
  return require(addonPath) as NativeAddon;
}

export const native: NativeAddon = load();
