/**
 * A run directory, as pretraining, fine-tuning and the supervised baseline write it:
 *   config.yaml      the resolved config (the run's recipe)
 *   metrics.jsonl    training metrics, one JSON object per line, each with its step
 *   results.jsonl    evaluation results, one JSON object per line (read by compare)
 *   checkpoints/     see checkpoint.ts
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configFromYaml, configToYaml } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { CheckpointError, DataError, FileWriteError } from "../errors.js";
import { writeFileAtomic } from "../nn/safetensors.js";
import { failpoint } from "./failpoint.js";

export const runFiles = (runDir: string) => ({
  config: join(runDir, "config.yaml"),
  metrics: join(runDir, "metrics.jsonl"),
  results: join(runDir, "results.jsonl"),
  /** A grid of augmented views drawn at the start of pretraining (also in TensorBoard). */
  views: join(runDir, "augmented-views.png"),
  tensorboard: join(runDir, "tensorboard"),
});

/** The run's saved config (DIR/config.yaml). */
export function readRunConfig(runDir: string): Config {
  const path = runFiles(runDir).config;
  if (!existsSync(path)) throw new CheckpointError(runDir, `${runDir} is not a run directory: ${path} is missing`);
  return configFromYaml(readFileSync(path, "utf-8"), path);
}

export function writeRunConfig(runDir: string, config: Config): void {
  writeFileAtomic(runFiles(runDir).config, configToYaml(config));
}

/** Appends one JSON object as a line (metrics.jsonl, results.jsonl). */
export function appendJsonLine(path: string, record: Record<string, unknown>): void {
  const line = `${JSON.stringify(record)}\n`;
  failpoint("metrics", () => writeFileSync(path, line.slice(0, line.length >> 1), { flag: "a" }));
  try {
    writeFileSync(path, line, { flag: "a" });
  } catch (e) {
    // a torn line may be left; readers skip a torn last line and resume truncates to the checkpoint
    throw new FileWriteError(path, e);
  }
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

/**
 * The records of a JSON-lines file ([] when it does not exist). A torn last line (a crash
 * during an append) is left out; any other line that is not JSON is an error naming it.
 */
export function readJsonLines(path: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, "utf-8").split("\n");
  const out: Record<string, unknown>[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      if (i === lines.length - 1) return;
      throw new DataError(`${path}:${i + 1}`, "is not JSON");
    }
  });
  return out;
}
