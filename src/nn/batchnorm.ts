import { ones, zeros } from "../tensor/factory.js";
import { noGrad } from "../tensor/runtime.js";
import type { Tensor } from "../tensor/tensor.js";
import type { ProcessGroup } from "../distributed/process-group.js";
import { batchNorm } from "./functional.js";
import { Module } from "./module.js";
import { ArgumentError } from "../errors.js";

export interface BatchNormOptions {
  numFeatures: number;
  eps?: number;
  /** Weight of the new batch statistic in the running average (PyTorch's convention). */
  momentum?: number;
  /** Learnable scale and shift (default true). */
  affine?: boolean;
  /** With affine, whether to learn the shift too (default true; the SimCLR head's last BN has none). */
  center?: boolean;
}

/**
 * Batch normalisation (Ioffe & Szegedy 2015) with PyTorch's semantics: momentum 0.1,
 * running variance updated with the unbiased batch variance, num_batches_tracked counted.
 */
abstract class BatchNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;
  readonly eps: number;
  readonly momentum: number;
  /**
   * With a process group, training-mode statistics are those of the batch of all ranks
   * (SimCLR section 2.2, "Global BN"); see syncBatchNorm below. Null: this process's batch.
   */
  processGroup: ProcessGroup | null = null;

  protected abstract readonly validRanks: readonly number[];
  protected abstract readonly layout: string;

  constructor(options: BatchNormOptions) {
    super();
    const { numFeatures } = options;
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new ArgumentError(`${new.target.name}: numFeatures must be a positive integer, got ${numFeatures}`);
    }
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    const affine = options.affine ?? true;
    this.weight = affine ? this.registerParameter("weight", ones([numFeatures])) : null;
    this.bias = affine && (options.center ?? true) ? this.registerParameter("bias", zeros([numFeatures])) : null;
    this.runningMean = this.registerBuffer("running_mean", zeros([numFeatures]));
    this.runningVar = this.registerBuffer("running_var", ones([numFeatures]));
    this.numBatchesTracked = this.registerBuffer("num_batches_tracked", zeros([], { dtype: "int64" }));
  }

  forward(x: Tensor): Tensor {
    const shape = x.shape;
    if (!this.validRanks.includes(shape.length)) {
      throw new ArgumentError(`${this.constructor.name} expects ${this.layout}, got shape [${shape.join(", ")}]`);
    }
    const channels = this.runningMean.size(0);
    if (shape[1] !== channels) {
      throw new ArgumentError(`${this.constructor.name}(${channels}) got ${shape[1]} channels in input of shape [${shape.join(", ")}]`);
    }
    if (this.training) noGrad(() => this.numBatchesTracked.add_(1));
    if (this.training && this.processGroup !== null) {
      return this.processGroup.syncBatchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, this.momentum, this.eps);
    }
    return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, this.training, this.momentum, this.eps);
  }
}

/** BN over (N, C) or (N, C, L) inputs. */
export class BatchNorm1d extends BatchNorm {
  protected readonly validRanks = [2, 3];
  protected readonly layout = "a 2-d (N, C) or 3-d (N, C, L) input";
}

/** BN over (N, C, H, W) inputs. */
export class BatchNorm2d extends BatchNorm {
  protected readonly validRanks = [4];
  protected readonly layout = "a 4-d (N, C, H, W) input";
}

/**
 * Makes every batch norm in `module` global over `group` (SimCLR's "Global BN", like
 * torch.nn.SyncBatchNorm.convert_sync_batchnorm), or local again with null.
 */
export function syncBatchNorm(module: Module, group: ProcessGroup | null): void {
  for (const [, m] of module.namedModules()) if (m instanceof BatchNorm) m.processGroup = group;
}
