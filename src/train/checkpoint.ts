/**
 * Checkpoints of a pretraining run, one folder each under DIR/checkpoints/:
 *   model.safetensors      the SimCLR model's state dict (encoder.*, head.*)
 *   optimizer.safetensors  optimizer buffers, and the current epoch's data order
 *   state.json             epoch, step, RNG state, optimizer and schedule settings, config
 * A checkpoint is written into a temporary folder and renamed into place, then
 * DIR/checkpoints/latest (a one-line file) is replaced atomically: a crash at any moment
 * leaves the previous checkpoint intact and `latest` pointing at a complete one.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readSafetensors, writeFileAtomic, writeSafetensors } from "../nn/safetensors.js";
import type { Tensor } from "../tensor/tensor.js";

export interface CheckpointState {
  /** Epoch being run (0-based) and steps of it already done. */
  epoch: number;
  stepInEpoch: number;
  /** Optimizer steps done in the whole run. */
  globalStep: number;
  /** libtorch's CPU generator state, base64. */
  rngState: string;
  optimizer: { name: string; steps: number };
  /** The run's resolved config (flat key -> value). */
  config: Record<string, unknown>;
  createdAt: string;
}

export interface Checkpoint {
  dir: string;
  state: CheckpointState;
  model: Map<string, Tensor>;
  optimizer: Map<string, Tensor>;
}

export function checkpointsDir(runDir: string): string {
  return join(runDir, "checkpoints");
}

export function checkpointName(state: Pick<CheckpointState, "epoch" | "stepInEpoch" | "globalStep">): string {
  return state.stepInEpoch === 0 ? `epoch-${String(state.epoch).padStart(4, "0")}` : `step-${String(state.globalStep).padStart(7, "0")}`;
}

/** Writes a checkpoint atomically and points `latest` at it; returns its folder. */
export function saveCheckpoint(runDir: string, state: CheckpointState, model: Map<string, Tensor>, optimizer: Map<string, Tensor>): string {
  const root = checkpointsDir(runDir);
  mkdirSync(root, { recursive: true });
  const name = checkpointName(state);
  const tmp = join(root, `.tmp-${name}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  writeSafetensors(join(tmp, "model.safetensors"), model, { format: "pt" });
  writeSafetensors(join(tmp, "optimizer.safetensors"), optimizer);
  writeFileAtomic(join(tmp, "state.json"), `${JSON.stringify(state, null, 2)}\n`);
  const final = join(root, name);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  writeFileAtomic(join(root, "latest"), `${name}\n`);
  return final;
}

/** The folder of the newest complete checkpoint, or null when the run has none. */
export function latestCheckpoint(runDir: string): string | null {
  const pointer = join(checkpointsDir(runDir), "latest");
  if (!existsSync(pointer)) return null;
  const name = readFileSync(pointer, "utf-8").trim();
  const dir = join(checkpointsDir(runDir), name);
  return existsSync(join(dir, "state.json")) ? dir : null;
}

/** Reads a checkpoint folder; errors name the file that is missing or bad. */
export function loadCheckpoint(dir: string): Checkpoint {
  const statePath = join(dir, "state.json");
  let state: CheckpointState;
  try {
    state = JSON.parse(readFileSync(statePath, "utf-8")) as CheckpointState;
  } catch (e) {
    throw new Error(`${statePath}: cannot read checkpoint state (${(e as Error).message})`);
  }
  return {
    dir,
    state,
    model: readSafetensors(join(dir, "model.safetensors")).tensors,
    optimizer: readSafetensors(join(dir, "optimizer.safetensors")).tensors,
  };
}

/** Appends one JSON object as a line (metrics.jsonl, results.jsonl). */
export function appendJsonLine(path: string, record: Record<string, unknown>): void {
  writeFileSync(path, `${JSON.stringify(record)}\n`, { flag: "a" });
}

/** Keeps only the lines of a JSON-lines file whose `step` is at most `step` (for resume). */
export function truncateJsonLines(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, "utf-8")
    .split("\n")
    .filter((line) => {
      if (line.trim() === "") return false;
      try {
        const record = JSON.parse(line) as { step?: number };
        return record.step === undefined || record.step <= step;
      } catch {
        return false;
      }
    });
  writeFileAtomic(path, kept.length > 0 ? `${kept.join("\n")}\n` : "");
}
