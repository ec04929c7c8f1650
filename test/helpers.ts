/** Shared test helpers: fixture paths and tensor comparisons. */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { ProgressReporter, type Tensor } from "../src/index.js";

/** test/fixtures in the source tree (tests run from dist/test). */
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "fixtures");

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

/** max |a - b| / max |b|: the relative error the fixtures' tolerances are stated in. */
export function maxRelativeError(a: Tensor, b: Tensor): number {
  const x = a.dataAsNumbers();
  const y = b.dataAsNumbers();
  if (x.length !== y.length) throw new Error(`sizes differ: ${x.length} vs ${y.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs((x[i] as number) - (y[i] as number)));
    scale = Math.max(scale, Math.abs(y[i] as number));
  }
  return diff / (scale === 0 ? 1 : scale);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

/** Deterministic uniform numbers in [0, 1) (mulberry32), for test data independent of libtorch's RNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The built `simclr` command line (dist/src/cli/main.js). */
/**
 * The engine this clone's addon was built against, as scripts/install.mjs records it in
 * build/engine.json (kind: libtorch | venv | system | python; prefix: the libtorch folder).
 */
export const BUILT_ENGINE = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "build", "engine.json"), "utf-8")) as {
  kind: string;
  prefix: string;
  origin: string;
};

export const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli", "main.js");

/** Runs `simclr ...args` to completion: exit code, stdout, stderr. */
export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { encoding: "utf-8" });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** A progress reporter that writes nothing: what jobs get in tests that do not read their messages. */
export const quiet = (): ProgressReporter => ProgressReporter.silent();

/** A progress reporter whose lines (messages and step lines) land in `lines`. */
export const collecting = (lines: string[]): ProgressReporter => ProgressReporter.lines((l) => lines.push(l), 1_000_000);

/** The loss of every logged step of a run's metrics.jsonl, by step (empty while the file is not there yet). */
export function lossCurve(dir: string): Map<number, number> {
  const out = new Map<number, number>();
  const path = join(dir, "metrics.jsonl");
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, "utf-8").split("\n")) {
    if (!line) continue;
    const r = JSON.parse(line) as { step: number; loss?: number };
    if (r.loss !== undefined) out.set(r.step, r.loss);
  }
  return out;
}
