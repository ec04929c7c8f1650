/**
 * Data parallelism as torch's DistributedDataParallel does it, without wrapping the model:
 * every rank starts from rank 0's parameters and buffers, runs forward and backward on its
 * slice of the global batch, and then the gradients are averaged over ranks with all-reduces
 * over flat buckets (about 25 MiB, in reverse parameter order, as DDP: the last layers'
 * gradients are ready first). With overlap, each bucket's all-reduce starts from inside
 * backward, from hooks on the gradient accumulators (native/dist.cc), as soon as its last
 * gradient is ready; without, all buckets start after backward (overlapping each other).
 */
import type { ProcessGroup } from "../distributed/process-group.js";
import type { Module } from "../nn/module.js";
import { cat, zeros } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";

export const DEFAULT_BUCKET_BYTES = 25 * 2 ** 20;

const BYTES: Record<string, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2 };

export class DataParallel {
  /** Parameter buckets, in reverse parameter order. */
  readonly buckets: Tensor[][];

  /** With overlap: buckets the last backward had not launched by its end (0: all overlapped). */
  lateBuckets = 0;
  /** With overlap: the native bucket set whose all-reduces start inside backward. */
  readonly #overlapped: number | null;

  constructor(
    readonly model: Module,
    readonly group: ProcessGroup,
    bucketBytes = DEFAULT_BUCKET_BYTES,
    /**
     * Start each bucket's all-reduce from inside backward, as soon as its last gradient is
     * accumulated (hooks on the gradient accumulators, like DDP's Reducer), instead of after it.
     */
    overlap = false,
  ) {
    const params = model
      .parameters()
      .filter((p) => p.requiresGrad)
      .reverse();
    this.buckets = [];
    let current: Tensor[] = [];
    let bytes = 0;
    for (const p of params) {
      const size = p.numel * (BYTES[p.dtype] ?? 4);
      if (current.length > 0 && bytes + size > bucketBytes) {
        this.buckets.push(current);
        current = [];
        bytes = 0;
      }
      current.push(p);
      bytes += size;
    }
    if (current.length > 0) this.buckets.push(current);
    this.#overlapped = overlap ? group.installGradientBuckets(this.buckets) : null;
  }

  /** Copies rank 0's parameters and buffers to every rank (at the start, as DDP's constructor). */
  broadcastState(): void {
    const tensors = [...this.model.parameters(), ...this.model.namedBuffers().map(([, b]) => b)];
    noGrad(() => this.group.broadcast(tensors, 0));
  }

  /** Removes the overlap hooks, if any (the job calls this at its end). */
  dispose(): void {
    if (this.#overlapped !== null) this.group.releaseGradientBuckets(this.#overlapped);
  }

  /** Averages every parameter's gradient over the ranks, in place (call after backward). */
  averageGradients(): void {
    if (this.#overlapped !== null) {
      this.lateBuckets = this.group.finishGradientBuckets(this.#overlapped);
      return;
    }
    const size = this.group.size;
    tidy(() =>
      noGrad(() => {
        // 1) flatten each bucket and start its all-reduce
        const started = this.buckets.map((bucket) => {
          const grads = bucket.map((p) => {
            const g = p.grad;
            if (g !== null) return g;
            // An unused parameter still takes part, so every rank's buckets line up.
            p.grad = zeros(p.shape, { dtype: p.dtype, device: p.device }); // shared by the parameter; this handle is the scope's
            const created = p.grad;
            if (created === null) throw new Error("DataParallel: setting a gradient failed");
            return created;
          });
          const flat = cat(grads.map((g) => g.flatten())); // (bucket numel)
          return { grads, flat, work: this.group.allReduceAsync([flat]) };
        });
        // 2) wait for each, divide by the world size, copy back
        for (const { grads, flat, work } of started) {
          work.wait();
          flat.div_(size);
          let offset = 0;
          for (const g of grads) {
            g.copy_(flat.narrow(0, offset, g.numel).view(g.shape));
            offset += g.numel;
          }
        }
      }),
    );
  }
}
