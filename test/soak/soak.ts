/**
 * The crash-resume soak (issue 12, RELIABILITY.md): a pretraining run through the CLI is
 * killed K times at random points and resumed after each kill; at the end its checkpoint and
 * metrics.jsonl must equal those of the same run left alone, bit for bit.
 *
 * Kill points, drawn at random for each attempt:
 *   - SIGKILL from inside, at the Nth pass of a failpoint (src/run/failpoint.ts): in a step,
 *     while a checkpoint's files are written, between a checkpoint's rename and `latest`,
 *     half-way through a metrics line, in a kNN evaluation;
 *   - SIGKILL from outside after a random delay (anywhere: start-up, data loading, ...);
 *   - SIGINT or SIGTERM after a random delay (the graceful stop: a step checkpoint mid-epoch).
 * After each, `pretrain --resume` continues (a run killed before its first checkpoint starts
 * again from its config.yaml). Compared at the end: every file of the final checkpoint, byte
 * for byte, and metrics.jsonl line by line with the two wall-clock fields (elapsed_s,
 * views_per_s) left out — they are timings, not results.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, rng } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

export interface SoakOptions {
  /** Where the data, the reference run and the soaked run go (created). */
  dir: string;
  /** Kills (SIGKILL) to inflict; graceful stops come on top. */
  kills: number;
  seed: number;
  /** Epochs of the run (4 steps each); more epochs give the kills more room. */
  epochs: number;
  /** Called with a line per attempt. */
  log?: (line: string) => void;
}

export interface SoakResult {
  kills: number;
  /** Kills by where they struck. */
  killsByPoint: Record<string, number>;
  gracefulStops: number;
  /** Attempts that ran to the end before their kill point came. */
  finishedEarly: number;
  /** Runs soaked (each killed until it finished, then compared). */
  rounds: number;
  processes: number;
  /** Files of the final checkpoint compared, all equal. */
  checkpointFiles: string[];
  metricsLines: number;
  /** The differences found (empty: bit for bit). */
  differences: string[];
  seconds: number;
}

const FAILPOINTS: [name: string, maxN: number][] = [
  ["step", 10],
  ["checkpoint", 8],
  ["checkpoint-latest", 2],
  ["metrics", 20],
  ["evaluation", 2],
];

function runCli(
  args: string[],
  env: Record<string, string>,
  killAfter: { ms: number; signal: NodeJS.Signals } | null,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = killAfter === null ? null : setTimeout(() => child.kill(killAfter.signal), killAfter.ms);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (timer !== null) clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

/** metrics.jsonl without the wall-clock fields, one JSON string per line. */
function metricsLines(runDir: string): string[] {
  return readFileSync(join(runDir, "metrics.jsonl"), "utf-8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const { elapsed_s: _e, views_per_s: _v, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(rest);
    });
}

function finalCheckpoint(runDir: string): string {
  const name = readFileSync(join(runDir, "checkpoints", "latest"), "utf-8").trim();
  return join(runDir, "checkpoints", name);
}

/** Compares a soaked run with the reference: the final checkpoint's files and metrics.jsonl. */
function compareRuns(reference: string, soaked: string, result: SoakResult): void {
  const a = finalCheckpoint(reference);
  const b = finalCheckpoint(soaked);
  const round = soaked.slice(soaked.lastIndexOf("/") + 1);
  if (a.slice(reference.length) !== b.slice(soaked.length)) result.differences.push(`${round}: final checkpoints differ: ${a} vs ${b}`);
  result.checkpointFiles = readdirSync(a).sort();
  for (const file of result.checkpointFiles) {
    const x = readFileSync(join(a, file));
    const y = existsSync(join(b, file)) ? readFileSync(join(b, file)) : null;
    if (file === "state.json") {
      // createdAt is a wall-clock time; everything else (counters, RNG state, config) must match
      const strip = (buf: Buffer) => JSON.stringify({ ...(JSON.parse(buf.toString()) as object), createdAt: null });
      if (y === null || strip(x) !== strip(y)) result.differences.push(`${round}: ${file} differs`);
    } else if (y === null || !x.equals(y)) result.differences.push(`${round}: ${file} differs`);
  }
  const ma = metricsLines(reference);
  const mb = metricsLines(soaked);
  result.metricsLines = ma.length;
  if (ma.length !== mb.length) result.differences.push(`${round}: metrics.jsonl has ${mb.length} lines, the uninterrupted run ${ma.length}`);
  ma.forEach((line, i) => {
    if (mb[i] !== line) result.differences.push(`${round}: metrics.jsonl line ${i + 1}: ${mb[i]} vs ${line}`);
  });
}

export async function soak(options: SoakOptions): Promise<SoakResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const random = rng(options.seed);
  const pick = (n: number) => Math.floor(random() * n);
  mkdirSync(options.dir, { recursive: true });
  const data = writeSyntheticIdx(join(options.dir, "data"), 256);
  const config = join(options.dir, "config.yaml");
  const set = syntheticSet(data, [`train.epochs=${options.epochs}`, "train.threads=1", "monitor.knnSamples=128", "monitor.knnK=20", "train.logEvery=1"]);
  const doc: Record<string, Record<string, unknown>> = {};
  for (const kv of set) {
    const [key, value] = kv.split("=") as [string, string];
    const [section, name] = key.split(".") as [string, string];
    (doc[section] ??= {})[name] = /^-?[\d.]+$/.test(value) ? Number(value) : value;
  }
  writeFileSync(config, JSON.stringify(doc)); // JSON is YAML

  const reference = join(options.dir, "reference");
  const ref = await runCli(["pretrain", "--config", config, "--out", reference], {}, null);
  if (ref.code !== 0) throw new Error(`the uninterrupted run failed (exit ${ref.code}):\n${ref.stderr}`);

  const result: SoakResult = {
    kills: 0,
    killsByPoint: {},
    gracefulStops: 0,
    finishedEarly: 0,
    processes: 0,
    rounds: 0,
    checkpointFiles: [],
    metricsLines: 0,
    differences: [],
    seconds: 0,
  };
  // Rounds of one run each, killed until it finishes; rounds go on until K kills are done.
  while (result.kills < options.kills) {
    const soaked = join(options.dir, `soaked-${++result.rounds}`);
    let finished = false;
    while (!finished) {
      const started = existsSync(join(soaked, "config.yaml"));
      const args = started ? ["pretrain", "--resume", "--out", soaked] : ["pretrain", "--config", config, "--out", soaked];
      let env: Record<string, string> = {};
      let killAfter: { ms: number; signal: NodeJS.Signals } | null = null;
      let point = "none";
      if (result.kills < options.kills) {
        const draw = random();
        if (draw < 0.6) {
          const [name, maxN] = FAILPOINTS[pick(FAILPOINTS.length)] as [string, number];
          const n = 1 + pick(maxN);
          env = { SIMCLR_FAILPOINT: `${name}:${n}` };
          point = `${name}:${n}`;
        } else if (draw < 0.85) {
          killAfter = { ms: 200 + pick(5000), signal: "SIGKILL" };
          point = `SIGKILL after ${killAfter.ms} ms`;
        } else {
          killAfter = { ms: 1500 + pick(4000), signal: random() < 0.5 ? "SIGINT" : "SIGTERM" };
          point = `${killAfter.signal} after ${killAfter.ms} ms`;
        }
      }
      const out = await runCli(args, env, killAfter);
      result.processes++;
      const what = `round ${result.rounds}: ${started ? "resume" : "start "}`;
      if (out.signal === "SIGKILL") {
        result.kills++;
        const where = point.startsWith("SIGKILL") ? "random time" : (point.split(":")[0] as string);
        result.killsByPoint[where] = (result.killsByPoint[where] ?? 0) + 1;
        log(`${what} killed: ${point}`);
      } else if (out.code === 130 || out.code === 143) {
        result.gracefulStops++;
        log(`${what} stopped: ${point}`);
      } else if (out.code === 0) {
        if (point !== "none") result.finishedEarly++;
        finished = true;
        log(`${what} finished${point !== "none" ? ` before ${point}` : ""}`);
      } else {
        throw new Error(`${args.join(" ")} (${point}) exited ${out.code ?? out.signal}:\n${out.stderr}`);
      }
    }
    compareRuns(reference, soaked, result);
  }
  result.seconds = Number(((performance.now() - started) / 1000).toFixed(1));
  return result;
}
