/**
 * The data loader every training and evaluation loop uses: a seeded permutation per epoch,
 * fixed-size batches, the uint8 -> float conversion in one place, and a cursor (epoch,
 * batch, permutation) that a checkpoint saves so a resumed run sees the same batches.
 *
 * Data parallelism: with `worldSize` W and `rank` r, every rank draws the same permutation
 * (the same seed and RNG state on every rank), cuts the same global batch of `batchSize`
 * images, and keeps its slice [r B/W, (r+1) B/W) of it. So a global batch is the same
 * whatever W is, which is what makes the loss curve independent of the world size.
 *
 * Ownership: tensors in a Batch are new; make and use them inside a tidy() scope. The
 * permutation belongs to the loader (dispose() frees it); stateDict() returns it by
 * reference.
 */
import { arange, randperm } from "../tensor/factory.js";
import { toUnitFloat } from "../tensor/pixels.js";
import { tidy } from "../tensor/scope.js";
import { keep } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { ArgumentError } from "../errors.js";
import { checkOptions, checkTensor } from "../tensor/check.js";

export { toUnitFloat };

export interface LoaderData {
  /** uint8 (N, C, H, W). */
  images: Tensor;
  /** int64 (N); optional for unlabelled data. */
  labels?: Tensor;
}

export interface LoaderOptions {
  /** Images per global batch (over all ranks). */
  batchSize: number;
  /** Where batches are put (default "cpu"). */
  device?: string;
  /** A new random permutation every epoch from libtorch's global RNG (default true); else data order. */
  shuffle?: boolean;
  /** Drop the last partial batch (default true when shuffling: every step sees batchSize images). */
  dropLast?: boolean;
  /** Convert pixels to float32 in [0, 1] (default true); false keeps uint8. */
  toFloat?: boolean;
  /** This process's rank and the number of ranks sharing each global batch (default 0 of 1). */
  rank?: number;
  worldSize?: number;
}

export interface Batch {
  /** (B / W, C, H, W): float32 in [0, 1], or uint8 with toFloat false; on the device. */
  images: Tensor;
  /** (B / W) int64 on the device, when the data has labels. */
  labels: Tensor | null;
  /** (B / W) int64 indices into the data set, on the CPU. */
  indices: Tensor;
}

/** Where the loader is: the epoch, batches already taken in it, and its permutation. */
export interface LoaderCursor {
  epoch: number;
  batch: number;
  /** The epoch's permutation (N) int64; null before the epoch's first batch or without shuffling. */
  order: Tensor | null;
}

export class DataLoader {
  readonly size: number;
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  readonly device: string;
  readonly shuffle: boolean;
  readonly rank: number;
  readonly worldSize: number;
  readonly #data: LoaderData;
  readonly #toFloat: boolean;
  readonly #dropLast: boolean;
  #epoch = 0;
  #batch = 0;
  #order: Tensor | null = null;

  constructor(data: LoaderData, options: LoaderOptions) {
    checkOptions(data, "DataLoader(data)");
    checkTensor(data.images, "DataLoader(data.images)");
    if (data.labels !== undefined) checkTensor(data.labels, "DataLoader(data.labels)", { ndim: 1 });
    checkOptions(options, "DataLoader(options)");
    this.#data = data;
    this.size = data.images.size(0);
    this.batchSize = options.batchSize;
    this.device = options.device ?? "cpu";
    this.shuffle = options.shuffle ?? true;
    this.#dropLast = options.dropLast ?? this.shuffle;
    this.#toFloat = options.toFloat ?? true;
    this.rank = options.rank ?? 0;
    this.worldSize = options.worldSize ?? 1;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new ArgumentError(`batch size must be a positive integer, got ${this.batchSize}`);
    if (!(Number.isInteger(this.worldSize) && this.worldSize >= 1 && Number.isInteger(this.rank) && this.rank >= 0 && this.rank < this.worldSize)) {
      throw new ArgumentError(`rank ${this.rank} of world size ${this.worldSize} is not a valid rank`);
    }
    if (this.batchSize % this.worldSize !== 0) throw new ArgumentError(`batch size ${this.batchSize} does not divide among ${this.worldSize} ranks`);
    if (data.labels !== undefined && data.labels.size(0) !== this.size) throw new ArgumentError(`${data.labels.size(0)} labels for ${this.size} images`);
    this.batchesPerEpoch = this.#dropLast ? Math.floor(this.size / this.batchSize) : Math.ceil(this.size / this.batchSize);
  }

  /** The epoch being loaded (0-based) and batches already taken from it. */
  get epoch(): number {
    return this.#epoch;
  }

  get batchInEpoch(): number {
    return this.#batch;
  }

  /** True once every batch of the current epoch has been taken. */
  get epochDone(): boolean {
    return this.#batch >= this.batchesPerEpoch;
  }

  /**
   * The next batch of the current epoch. The epoch's permutation is drawn (libtorch's global
   * RNG) when its first batch is taken, not before, so a checkpoint taken between epochs
   * resumes into the same permutation.
   */
  next(): Batch {
    if (this.epochDone) throw new ArgumentError(`epoch ${this.#epoch} has no batch left (${this.batchesPerEpoch} per epoch): call nextEpoch()`);
    if (this.shuffle && this.#order === null) this.#order = keep(randperm(this.size)); // (N)
    const start = this.#batch * this.batchSize;
    const global = Math.min(this.batchSize, this.size - start);
    const local = Math.floor(global / this.worldSize);
    const offset = start + this.rank * local;
    const count = this.rank === this.worldSize - 1 ? global - this.rank * local : local;
    const indices = this.#order !== null ? this.#order.narrow(0, offset, count) : arange(offset, offset + count); // (B / W)
    this.#batch++;
    return this.#take(indices);
  }

  /** Moves to the next epoch (its permutation is drawn at its first batch). */
  nextEpoch(): void {
    this.#order?.dispose();
    this.#order = null;
    this.#epoch++;
    this.#batch = 0;
  }

  /** Every batch of one pass in order, e.g. for feature extraction (no shuffling). */
  *batches(): Generator<Batch> {
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      const start = b * this.batchSize;
      const count = Math.min(this.batchSize, this.size - start);
      yield this.#take(arange(start, start + count));
    }
  }

  /** The batch's tensors are new and the caller's; the intermediates are freed here. */
  #take(indices: Tensor): Batch {
    return tidy(() => {
      const raw = this.#data.images.indexSelect(0, indices).to(this.device); // (b, C, H, W) uint8
      return {
        images: this.#toFloat ? toUnitFloat(raw) : raw,
        labels: this.#data.labels === undefined ? null : this.#data.labels.indexSelect(0, indices).to(this.device), // (b)
        indices,
      };
    });
  }

  /** The cursor, for checkpoints: the permutation is returned by reference (do not dispose it). */
  cursor(): LoaderCursor {
    return { epoch: this.#epoch, batch: this.#batch, order: this.#batch > 0 ? this.#order : null };
  }

  /** Continues from a saved cursor; the permutation is copied. */
  restore(cursor: LoaderCursor): void {
    // A finished epoch is saved as the next epoch's batch 0, so batch == batchesPerEpoch never occurs.
    if (!(Number.isInteger(cursor.batch) && cursor.batch >= 0 && cursor.batch < this.batchesPerEpoch)) {
      throw new ArgumentError(
        `the saved cursor is at batch ${cursor.batch}, not within this loader's ${this.batchesPerEpoch} per epoch (a different batch size or data set?)`,
      );
    }
    if (cursor.batch > 0 && this.shuffle && cursor.order === null) throw new ArgumentError("the saved cursor is inside an epoch but has no permutation");
    if (cursor.order !== null && cursor.order.size(0) !== this.size)
      throw new ArgumentError(`the saved permutation has ${cursor.order.size(0)} entries, the data ${this.size} images`);
    if (cursor.order !== null && cursor.batch > 0) {
      // a permutation of 0..size-1: every index once (a corrupt file could hold anything)
      const seen = new Uint8Array(this.size);
      for (const v of cursor.order.dataAsNumbers()) {
        if (!Number.isInteger(v) || v < 0 || v >= this.size || seen[v] === 1)
          throw new ArgumentError(`the saved permutation is not a permutation of the ${this.size} images (it holds ${v})`);
        seen[v] = 1;
      }
    }
    this.#order?.dispose();
    this.#order = cursor.order === null || cursor.batch === 0 ? null : keep(cursor.order.clone());
    this.#epoch = cursor.epoch;
    this.#batch = cursor.batch;
  }

  dispose(): void {
    this.#order?.dispose();
    this.#order = null;
  }
}
