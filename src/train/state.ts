/**
 * Everything a pretraining run needs to continue exactly where it stopped: the model, the
 * optimizer, the loader's cursor, libtorch's RNG state, the step counter, and the state of
 * every named callback (the online probe). stateDict() gives it as named groups of tensors,
 * which run/checkpoint.ts saves one file per group; load() restores it from a checkpoint.
 */
import type { DataLoader } from "../data/loader.js";
import type { SimCLRModel } from "../models/simclr.js";
import type { Optimizer } from "../optim/optimizer.js";
import type { Checkpoint, CheckpointState, TensorGroups } from "../run/checkpoint.js";
import { CheckpointError } from "../errors.js";
import { rngStateFromBase64, rngStateToBase64 } from "../tensor/rng.js";
import type { Tensor } from "../tensor/tensor.js";
import type { TrainCallback } from "../run/callbacks.js";

export class TrainState {
  /** Optimizer steps done in the whole run. */
  globalStep = 0;
  /** The current epoch's loss so far: sum over its steps and their number (for its summary line). */
  epochLossSum = 0;
  epochSteps = 0;

  constructor(
    readonly model: SimCLRModel,
    readonly optimizer: Optimizer,
    /** The optimizer's config name, recorded in state.json. */
    readonly optimizerName: string,
    readonly loader: DataLoader,
    /** Callbacks; those with a name and a state dict are saved with the state. */
    readonly callbacks: readonly TrainCallback[] = [],
  ) {}

  /** The tensors, by reference, as named groups: model, optimizer, loader, and one per stateful callback. */
  stateDict(): TensorGroups {
    const groups: TensorGroups = new Map([
      ["model", this.model.stateDict()],
      ["optimizer", this.optimizer.stateDict()],
    ]);
    const { order } = this.loader.cursor();
    groups.set("loader", new Map<string, Tensor>(order === null ? [] : [["order", order]]));
    for (const c of this.callbacks) if (c.name !== undefined && c.stateDict !== undefined) groups.set(c.name, c.stateDict());
    return groups;
  }

  /** The counters and the RNG state for state.json (the config is the caller's to add). */
  counters(): Omit<CheckpointState, "config" | "createdAt" | "format"> {
    return {
      epoch: this.loader.epoch,
      stepInEpoch: this.loader.batchInEpoch,
      globalStep: this.globalStep,
      epochLossSum: this.epochLossSum,
      epochSteps: this.epochSteps,
      rngState: rngStateToBase64(),
      optimizer: { name: this.optimizerName, steps: this.optimizer.steps },
    };
  }

  /** Restores everything from a checkpoint (copies; the caller still owns its tensors). */
  load(checkpoint: Checkpoint): void {
    const { state, groups } = checkpoint;
    if (state.optimizer.name !== this.optimizerName) {
      throw new CheckpointError(
        checkpoint.dir,
        `${checkpoint.dir} was written with optimizer ${state.optimizer.name}, the config says ${this.optimizerName}: its state cannot continue`,
      );
    }
    const group = (name: string) => groups.get(name) ?? new Map<string, Tensor>();
    this.model.loadStateDict(group("model"));
    this.optimizer.loadStateDict(group("optimizer"));
    this.optimizer.steps = state.optimizer.steps;
    for (const c of this.callbacks) if (c.name !== undefined && c.loadStateDict !== undefined && groups.has(c.name)) c.loadStateDict(group(c.name));
    this.loader.restore({ epoch: state.epoch, batch: state.stepInEpoch, order: group("loader").get("order") ?? null });
    this.globalStep = state.globalStep;
    this.epochLossSum = state.epochLossSum ?? 0;
    this.epochSteps = state.epochSteps ?? 0;
    rngStateFromBase64(state.rngState);
  }
}
