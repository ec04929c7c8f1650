/**
 * A run directory, as pretraining, fine-tuning and the supervised baseline write it:
 *   config.yaml          the resolved config (the run's recipe)
 *   metrics.jsonl        training metrics, one JSON object per line, each with its step
 *   results.jsonl        evaluation results, one JSON object per line (read by compare)
 *   checkpoints/         see checkpoint.ts
 *   tensorboard/         event files
 *   augmented-views.png  what the model saw at step 0
 *   init.json            with model.init: where the encoder's first weights came from
 *   teacher.json         with distill.teacher: the teacher distilled from
 *   .lock                the writer's lock (run-lock.ts)
 * `RunDir` owns that list: it starts a run (refusing or moving aside one already there),
 * cleans what a crashed writer left, and keeps config.yaml in step with the checkpoints.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { configFromYaml, configToYaml } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { CheckpointError, DataError, FileWriteError, RunExistsError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { parseTempName } from "../io/temp.js";
import { checkpointsDir } from "./checkpoint.js";
import { failpoint } from "./failpoint.js";
import { acquireRunLock, type RunLock } from "./run-lock.js";

/** The files of the run in `runDir`, by role. */
export const runFiles = (runDir: string) => ({
  config: join(runDir, "config.yaml"),
  metrics: join(runDir, "metrics.jsonl"),
  results: join(runDir, "results.jsonl"),
  checkpoints: checkpointsDir(runDir),
  tensorboard: join(runDir, "tensorboard"),
  /** A grid of augmented views drawn at the start of pretraining (also in TensorBoard). */
  views: join(runDir, "augmented-views.png"),
  /** Where the encoder's initial weights came from, with model.init (file, sha256, format). */
  init: join(runDir, "init.json"),
  /** The teacher of a distillation run (distill.teacher): run, checkpoint, arch, sha256. */
  teacher: join(runDir, "teacher.json"),
});

type Role = keyof ReturnType<typeof runFiles>;
/** The roles whose presence means the run trained (a start that failed writes only the others). */
const TRAINED: readonly Role[] = ["checkpoints", "results"];

/** Lines for the user about what was done to the directory (moved aside, cleaned, rewritten). */
export type Note = (message: string) => void;

export class RunDir {
  readonly files: ReturnType<typeof runFiles>;

  constructor(readonly path: string) {
    this.files = runFiles(path);
  }

  /** Every entry a run directory may hold (the lock aside), in the order errors list them. */
  get entries(): string[] {
    return Object.values(this.files).map((f) => basename(f));
  }

  /**
   * The entries that make this a run worth keeping: checkpoints, results, or logged steps.
   * A directory with only what a failed start leaves (config.yaml, an empty metrics.jsonl, the
   * views grid, an events file) holds no training: [] then.
   */
  heldEntries(): string[] {
    const f = this.files;
    const logged = existsSync(f.metrics) && statSync(f.metrics).size > 0;
    if (!logged && !TRAINED.some((r) => existsSync(f[r]))) return [];
    return this.entries.filter((e) => existsSync(join(this.path, e)));
  }

  /** Takes the directory's writer lock (creating it); RunLockedError when another process holds it. */
  lock(note: Note): RunLock {
    return acquireRunLock(this.path, (h) => note(`taking over ${join(this.path, ".lock")} from pid ${h.pid}, which is gone`));
  }

  /**
   * Makes the directory ready for a run from step 0, with `config`. One that holds a run is
   * refused (whatever state its checkpoints are in) unless `force`, which moves the old run's
   * files aside into `<dir>.replaced-<time>/` rather than deleting them; what a failed start
   * left is removed. Call with the lock held.
   */
  start(config: Config, options: { force: boolean; note: Note }): string | null {
    const held = this.heldEntries();
    if (held.length > 0 && !options.force) {
      throw new RunExistsError(this.path, held);
    }
    if (held.length > 0) {
      const aside = `${this.path.replace(/\/+$/, "")}.replaced-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      mkdirSync(aside);
      for (const name of readdirSync(this.path)) if (name !== ".lock") renameSync(join(this.path, name), join(aside, name));
      options.note(`moved the previous run in ${this.path} to ${aside}`);
      this.writeConfig(config);
      writeFileSync(this.files.metrics, "");
      return aside;
    }
    for (const e of this.entries) rmSync(join(this.path, e), { recursive: true, force: true });
    this.writeConfig(config);
    writeFileSync(this.files.metrics, "");
    return null;
  }

  /**
   * Undoes a start that failed before training: removes config.yaml, metrics.jsonl and the
   * rest of what start() and the set-up wrote, and moves back the run that a --force start
   * moved `aside` (start()'s return). Call with the lock held, only when heldEntries() is empty
   * (nothing trained).
   */
  abandonStart(aside: string | null, note: Note): void {
    for (const e of this.entries) rmSync(join(this.path, e), { recursive: true, force: true });
    if (aside === null) return;
    // a --force start that failed puts the run it moved aside back
    for (const name of readdirSync(aside)) renameSync(join(aside, name), join(this.path, name));
    rmSync(aside, { recursive: true, force: true });
    note(`the start failed: moved the previous run back from ${aside} to ${this.path}`);
  }

  /** Removes the directory when nothing is left in it (after abandonStart and the lock's release). */
  removeIfEmpty(): void {
    try {
      if (readdirSync(this.path).length === 0) rmSync(this.path, { recursive: true });
    } catch {
      // gone already, or not ours to remove
    }
  }

  /**
   * Removes what writers that died mid-write left (io/temp.ts names) in the directory and its
   * checkpoints/. Call with the lock held: every writer of the run holds it, so none is live.
   */
  removeStaleTemporaries(note: Note): void {
    for (const dir of [this.path, this.files.checkpoints]) {
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        if (parseTempName(name) === null) continue;
        rmSync(join(dir, name), { recursive: true, force: true });
        note(`removed ${join(dir, name)}, left by a writer that stopped mid-write`);
      }
    }
  }

  /** The saved config (config.yaml); CheckpointError when the directory has none. */
  readConfig(): Config {
    return readRunConfig(this.path);
  }

  writeConfig(config: Config): void {
    writeRunConfig(this.path, config);
  }

  /**
   * Rewrites config.yaml from `config` (the checkpoint's, which is the run's) when the copy is
   * missing or differs, saying so; `source` names where `config` came from.
   */
  syncConfig(config: Config, source: string, note: Note): void {
    let copy: string | null;
    try {
      copy = readFileSync(this.files.config, "utf-8");
    } catch {
      copy = null;
    }
    if (copy === configToYaml(config)) return;
    this.writeConfig(config);
    note(`${this.files.config} ${copy === null ? "was missing" : "differed from the checkpoint's config"}: rewritten from ${source}`);
  }
}

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
