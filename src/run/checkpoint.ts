/**
 * Checkpoints of a training run, one folder each under DIR/checkpoints/:
 *   state.json            counters, RNG state, optimizer settings, the config, the format
 *   <group>.safetensors   one file per named group of tensors: model (encoder.*, head.*),
 *                         optimizer (its buffers), loader (the epoch's permutation), and one
 *                         per stateful callback (e.g. probe)
 * A checkpoint is written into a temporary folder and renamed into place, then
 * DIR/checkpoints/latest (a one-line file) is replaced atomically: a crash at any moment
 * leaves the previous checkpoint intact and `latest` pointing at a complete one.
 *
 * Format 1 (before the groups) kept the permutation ("data.order") and the probe's tensors
 * ("probe.*") inside optimizer.safetensors; loadCheckpoint splits them into their groups, so
 * old runs still resume.
 *
 * Ownership: loadCheckpoint returns new tensors that the caller owns (disposeCheckpoint frees
 * them); saveCheckpoint only reads the tensors it is given.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ArgumentError, CheckpointError, FileWriteError, SimclrError } from "../errors.js";
import { readSafetensors, writeSafetensors } from "../nn/safetensors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { tempPath } from "../io/temp.js";
import { rngStateToBase64 } from "../tensor/rng.js";
import { failpoint } from "./failpoint.js";
import type { Tensor } from "../tensor/tensor.js";

export const CHECKPOINT_FORMAT = 2;

export interface CheckpointState {
  /** Layout of the folder: 2 (named groups); absent in format 1. */
  format?: number;
  /** Epoch being run (0-based) and steps of it already done. */
  epoch: number;
  stepInEpoch: number;
  /** Optimizer steps done in the whole run. */
  globalStep: number;
  /** The current epoch's loss so far (sum over its steps, and their number), for its summary line. */
  epochLossSum?: number;
  epochSteps?: number;
  /** libtorch's CPU generator state, base64. */
  rngState: string;
  optimizer: { name: string; steps: number };
  /** The run's resolved config (flat key -> value). */
  config: Record<string, unknown>;
  createdAt: string;
}

/** Named groups of tensors: group -> (name -> tensor). */
export type TensorGroups = Map<string, Map<string, Tensor>>;

export interface Checkpoint {
  dir: string;
  state: CheckpointState;
  groups: TensorGroups;
}

export function checkpointsDir(runDir: string): string {
  return join(runDir, "checkpoints");
}

export function checkpointName(state: Pick<CheckpointState, "epoch" | "stepInEpoch" | "globalStep">): string {
  return state.stepInEpoch === 0 ? `epoch-${String(state.epoch).padStart(4, "0")}` : `step-${String(state.globalStep).padStart(7, "0")}`;
}

const GROUP_NAME = /^[a-z][a-z0-9-]*$/;

/** Writes a checkpoint atomically and points `latest` at it; returns its folder. */
export function saveCheckpoint(runDir: string, state: Omit<CheckpointState, "format">, groups: TensorGroups): string {
  const root = checkpointsDir(runDir);
  mkdirSync(root, { recursive: true });
  const name = checkpointName(state);
  const final = join(root, name);
  const tmp = tempPath(final);
  try {
    mkdirSync(tmp);
    for (const [group, tensors] of groups) {
      if (!GROUP_NAME.test(group)) throw new ArgumentError(`checkpoint group '${group}' must be lower-case letters, digits and dashes`);
      writeSafetensors(join(tmp, `${group}.safetensors`), tensors, group === "model" ? { format: "pt" } : {});
      failpoint("checkpoint");
    }
    writeFileAtomic(join(tmp, "state.json"), `${JSON.stringify({ format: CHECKPOINT_FORMAT, ...state }, null, 2)}\n`);
    if (existsSync(join(final, "state.json"))) {
      // The same counters were saved before (a run resumed from this checkpoint and stopped
      // at once): that state is this one, and `latest` may name it, so it is kept rather than
      // removed and replaced (a crash between the two would leave `latest` naming nothing).
      rmSync(tmp, { recursive: true, force: true });
    } else {
      rmSync(final, { recursive: true, force: true }); // an incomplete folder of that name
      renameSync(tmp, final);
    }
  } catch (e) {
    // nothing half-written stays behind; `latest` still names the previous checkpoint
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof SimclrError) throw e;
    throw new FileWriteError(final, e);
  }
  failpoint("checkpoint-latest");
  writeFileAtomic(join(root, "latest"), `${name}\n`);
  return final;
}

const CHECKPOINT_NAME = /^(epoch-\d{4,}|step-\d{7,})$/;

/**
 * The folder of the newest complete checkpoint, or null when the run has none (no `latest`).
 * A `latest` that names anything but a checkpoint folder of this run (another run's path,
 * `..`, garbage) or one that is missing or incomplete is a CheckpointError naming it.
 */
export function latestCheckpoint(runDir: string): string | null {
  const pointer = join(checkpointsDir(runDir), "latest");
  if (!existsSync(pointer)) return null;
  const name = readFileSync(pointer, "utf-8").trim();
  if (!CHECKPOINT_NAME.test(name)) {
    throw new CheckpointError(
      pointer,
      `${pointer} names '${name.slice(0, 200)}', which is not a checkpoint of this run (expected epoch-NNNN or step-NNNNNNN inside ${checkpointsDir(runDir)})`,
    );
  }
  const dir = join(checkpointsDir(runDir), name);
  if (!existsSync(dir)) throw new CheckpointError(pointer, `${pointer} names ${name}, which does not exist`);
  if (!existsSync(join(dir, "state.json"))) throw new CheckpointError(pointer, `${pointer} names ${name}, which has no state.json (incomplete)`);
  return dir;
}

/** The resolved config stored in a checkpoint's state.json (flat key -> value), or null for checkpoints that predate it. */
export function checkpointConfig(dir: string): Record<string, unknown> | null {
  const statePath = join(dir, "state.json");
  try {
    const state = JSON.parse(readFileSync(statePath, "utf-8")) as { config?: unknown };
    return state.config !== null && typeof state.config === "object" && !Array.isArray(state.config) ? (state.config as Record<string, unknown>) : null;
  } catch (e) {
    throw new CheckpointError(statePath, `${statePath}: cannot read checkpoint state (${(e as Error).message})`);
  }
}

function readGroup(dir: string, group: string): Map<string, Tensor> {
  const file = join(dir, `${group}.safetensors`);
  if (!existsSync(file)) throw new CheckpointError(file, `${file}: missing from the checkpoint`);
  return readSafetensors(file).tensors;
}

/** Format 1 kept the permutation and the probe inside the optimizer's file: split them out. */
function splitFormat1(optimizer: Map<string, Tensor>): TensorGroups {
  const groups: TensorGroups = new Map([["optimizer", new Map<string, Tensor>()]]);
  for (const [key, t] of optimizer) {
    if (key === "data.order") groups.set("loader", new Map([["order", t]]));
    else if (key.startsWith("probe.")) {
      const probe = groups.get("probe") ?? new Map<string, Tensor>();
      probe.set(key.slice("probe.".length), t);
      groups.set("probe", probe);
    } else groups.get("optimizer")?.set(key, t);
  }
  return groups;
}

/** Reads a checkpoint folder (either format); errors name the file that is missing or bad. */
export function loadCheckpoint(dir: string): Checkpoint {
  const statePath = join(dir, "state.json");
  let state: CheckpointState;
  try {
    state = JSON.parse(readFileSync(statePath, "utf-8")) as CheckpointState;
  } catch (e) {
    throw new CheckpointError(statePath, `${statePath}: cannot read checkpoint state (${(e as Error).message})`);
  }
  for (const key of ["epoch", "stepInEpoch", "globalStep"] as const) {
    if (!Number.isInteger(state[key]) || state[key] < 0)
      throw new CheckpointError(statePath, `${statePath}: ${key} must be a non-negative integer, got ${JSON.stringify(state[key])}`);
  }
  const rngBytes = typeof state.rngState === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(state.rngState) ? Buffer.from(state.rngState, "base64").length : -1;
  const expected = Buffer.from(rngStateToBase64(), "base64").length;
  if (rngBytes !== expected)
    throw new CheckpointError(
      statePath,
      `${statePath}: rngState must be ${expected} bytes of base64 (libtorch's CPU generator), got ${rngBytes < 0 ? JSON.stringify(String(state.rngState).slice(0, 40)) : `${rngBytes} bytes`}`,
    );
  for (const key of ["epochLossSum", "epochSteps"] as const) {
    const v = state[key];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v >= 0 && (key === "epochLossSum" || Number.isInteger(v))))
      throw new CheckpointError(
        statePath,
        `${statePath}: ${key} must be a non-negative ${key === "epochSteps" ? "integer" : "number"}, got ${JSON.stringify(v)}`,
      );
  }
  const format = state.format ?? 1;
  if (format > CHECKPOINT_FORMAT)
    throw new CheckpointError(statePath, `${statePath}: checkpoint format ${format} is newer than this version reads (${CHECKPOINT_FORMAT})`);
  const groups: TensorGroups = new Map();
  try {
    groups.set("model", readGroup(dir, "model"));
    if (format === 1) {
      for (const [name, tensors] of splitFormat1(readGroup(dir, "optimizer"))) groups.set(name, tensors);
    } else {
      for (const file of readdirSync(dir).sort()) {
        const group = file.endsWith(".safetensors") ? file.slice(0, -".safetensors".length) : null;
        if (group !== null && group !== "model") groups.set(group, readGroup(dir, group));
      }
    }
  } catch (e) {
    disposeCheckpoint({ dir, state, groups }); // what was read before the failure
    throw e;
  }
  return { dir, state, groups };
}

/** Frees the tensors a loadCheckpoint returned. */
export function disposeCheckpoint(checkpoint: Checkpoint): void {
  for (const tensors of checkpoint.groups.values()) for (const t of tensors.values()) t.dispose();
}
