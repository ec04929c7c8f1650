/**
 * A process group: c10d's (torch.distributed's engine) TCPStore rendezvous and Gloo (CPU) or
 * NCCL (CUDA builds) collectives, through the native addon. Every collective waits at most
 * the group's timeout, so a dead or stuck rank becomes a DistributedError naming this rank,
 * never a hang.
 *
 * Ownership: collectives work in place on the tensors given (allReduce, broadcast) or return
 * new tensors the caller owns (allGather, allGatherWithGrad, syncBatchNorm).
 */
import { DistributedError } from "../errors.js";
import { native } from "../native.js";
import { wrap, type Tensor } from "../tensor/tensor.js";

export type Backend = "gloo" | "nccl";

export interface ProcessGroupOptions {
  /** The rendezvous address (torchrun's MASTER_ADDR) and port (MASTER_PORT); rank 0 listens there. */
  host: string;
  port: number;
  rank: number;
  size: number;
  /** Milliseconds any rendezvous or collective may take before it is an error (default 60 s). */
  timeoutMs?: number;
  backend?: Backend;
  /** Whether this process serves the rendezvous store (default: rank 0; false everywhere when a launcher's agent serves it, as torchrun's does). */
  storeServer?: boolean;
  /** Where the group's own small tensors live: "cpu" for gloo, this rank's GPU for nccl (default "cpu"). */
  device?: string;
  /** The store keys' prefix (default "simclr_pg"); a torchrun restart uses a new one. */
  prefix?: string;
}

/** An async collective started with allReduceAsync. */
export interface PendingWork {
  wait(): void;
}

export class ProcessGroup {
  readonly rank: number;
  readonly size: number;
  readonly backend: Backend;
  readonly timeoutMs: number;
  /** Where small tensors for this group's collectives must be made (the loss, flags). */
  readonly device: string;
  #id: number;

  private constructor(id: number, options: Required<ProcessGroupOptions>) {
    this.#id = id;
    this.rank = options.rank;
    this.size = options.size;
    this.backend = options.backend;
    this.timeoutMs = options.timeoutMs;
    this.device = options.device;
  }

  /** Joins the group: returns once all `size` ranks have (or throws after the timeout). */
  static init(options: ProcessGroupOptions): ProcessGroup {
    const full = { timeoutMs: 60_000, backend: "gloo" as Backend, storeServer: options.rank === 0, device: "cpu", prefix: "simclr_pg", ...options };
    // Before the rendezvous, so every rank says so at once instead of waiting on the others.
    if (full.backend === "gloo" && !native.distHasGloo()) {
      throw new DistributedError(
        full.rank,
        "the native addon was built without Gloo, the CPU backend of multi-process training: Gloo's headers (gloo/algorithm.h) were missing at build time. " +
          "Install them (Debian/Ubuntu: apt-get install libgloo-dev) and rebuild (bash scripts/setup.sh); `simclr doctor` shows what the engine has. Single-process training does not need it.",
      );
    }
    if (full.backend === "nccl" && !native.distHasNccl()) {
      throw new DistributedError(
        full.rank,
        "the native addon was built without NCCL, the CUDA backend of multi-process training: it needs a libtorch built with CUDA " +
          "(e.g. pip's torch==2.14.1 in a venv, then LIBTORCH=<its torch/ folder> bash scripts/setup.sh); `simclr doctor` shows what the engine has. dist.backend gloo trains on the CPU.",
      );
    }
    try {
      return new ProcessGroup(native.distInit({ ...full, isServer: full.storeServer }), full);
    } catch (e) {
      const why = (e as Error).message;
      const hint = /address already in use|EADDRINUSE/i.test(why)
        ? ` (port ${full.port} is taken: choose another MASTER_PORT)`
        : /timed out|timeout|Connection refused|ECONNREFUSED/i.test(why)
          ? ` (is rank 0 running and ${full.host}:${full.port} reachable from this machine?)`
          : "";
      throw new DistributedError(full.rank, `rank ${full.rank} of ${full.size} could not join the process group at ${full.host}:${full.port}${hint}: ${why}`, {
        cause: e,
      });
    }
  }

  #call<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof DistributedError) throw e;
      throw new DistributedError(this.rank, `${what} failed on rank ${this.rank} of ${this.size}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Sums (or max/min) `tensors` over ranks, in place. */
  allReduce(tensors: Tensor[], op: "sum" | "max" | "min" = "sum"): void {
    this.#call("all-reduce", () =>
      native.distAllReduce(
        this.#id,
        tensors.map((t) => t.id),
        op,
        false,
      ),
    );
  }

  /** Starts an in-place sum over ranks; wait() before reading the tensors. */
  allReduceAsync(tensors: Tensor[]): PendingWork {
    const work = this.#call("all-reduce", () =>
      native.distAllReduce(
        this.#id,
        tensors.map((t) => t.id),
        "sum",
        true,
      ),
    );
    if (work === undefined) throw new DistributedError(this.rank, "all-reduce: the addon returned no work handle");
    return { wait: () => this.#call("all-reduce", () => native.distWait(work)) };
  }

  /** Copies rank `root`'s tensors into everyone's, in place. */
  broadcast(tensors: Tensor[], root = 0): void {
    this.#call("broadcast", () =>
      native.distBroadcast(
        this.#id,
        tensors.map((t) => t.id),
        root,
      ),
    );
  }

  /** Every rank's `x` concatenated along dim 0, (size * N, ...); no gradient. */
  allGather(x: Tensor): Tensor {
    return wrap(this.#call("all-gather", () => native.distAllGather(this.#id, x.id)));
  }

  /**
   * Every rank's `x` concatenated along dim 0, with a gradient: the backward sums the
   * gathered tensor's gradient over ranks and returns this rank's rows, because every rank's
   * loss depends on every rank's rows (a backward without the sum would be off by 1/size).
   */
  allGatherWithGrad(x: Tensor): Tensor {
    return wrap(this.#call("all-gather", () => native.distAllGatherGrad(this.#id, x.id)));
  }

  /** Batch norm in training mode over the batch of all ranks (forward and backward); updates the running statistics in place. */
  syncBatchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor, runningVar: Tensor, momentum: number, eps: number): Tensor {
    return wrap(
      this.#call("sync batch norm", () =>
        native.distSyncBatchNorm(this.#id, x.id, weight?.id ?? null, bias?.id ?? null, runningMean.id, runningVar.id, momentum, eps),
      ),
    );
  }

  /**
   * Hooks every parameter's gradient accumulator so that each bucket's all-reduce starts
   * during backward, when its last gradient is ready; returns the bucket set's id.
   */
  installGradientBuckets(buckets: Tensor[][]): number {
    return this.#call("installing gradient buckets", () =>
      native.distBucketsInstall(
        this.#id,
        buckets.map((b) => b.map((t) => t.id)),
      ),
    );
  }

  /**
   * Waits for every bucket's all-reduce, writes the averages into the gradients, and re-arms
   * the hooks. Returns how many buckets backward's hooks had not launched (0 when all overlapped).
   */
  finishGradientBuckets(set: number): number {
    return this.#call("gradient all-reduce", () => native.distBucketsFinish(set));
  }

  /** Removes a bucket set's hooks (the model's parameters can then be freed). */
  releaseGradientBuckets(set: number): void {
    native.distBucketsRelease(set);
  }

  /** Returns once every rank has called it (or throws after the timeout). */
  barrier(): void {
    this.#call("barrier", () => native.distBarrier(this.#id));
  }

  destroy(): void {
    native.distDestroy(this.#id);
  }
}

/** Whether this build of the addon has NCCL (a libtorch with CUDA). */
export function ncclAvailable(): boolean {
  return native.distHasNccl();
}

/**
 * Runs a step's `fn`, turning a collective that failed inside it (SyncBN's all-reduces, the
 * loss's all-gather, the gradient hooks of backward: the engine reports them as plain errors)
 * into a DistributedError naming this rank; other errors pass through. Without a group, `fn`.
 */
export function asCollectiveError<T>(group: ProcessGroup | undefined, fn: () => T): T {
  if (group === undefined) return fn();
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && !(e instanceof DistributedError) && / on rank \d+ of \d+ failed or timed out after /.test(e.message)) {
      throw new DistributedError(group.rank, e.message, { cause: e });
    }
    throw e;
  }
}
