/** Finds a Python with PyTorch for the comparison halves of benchmarks. */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** bench/pytorch in the source tree (benchmarks run from dist/bench). */
export const PYTORCH_SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bench", "pytorch");

/** SIMCLR_PYTHON, else the first of python3 and /usr/bin/python3 that imports torch, else null. */
export function pythonWithTorch(): string | null {
  const candidates = [process.env.SIMCLR_PYTHON, "python3", "/usr/bin/python3"].filter((c): c is string => !!c);
  for (const python of candidates) {
    try {
      execFileSync(python, ["-c", "import torch, torchvision"], { stdio: "ignore" });
      return python;
    } catch {
      // try the next
    }
  }
  return null;
}

/** Runs a bench/pytorch script and parses the JSON line it prints. */
export function runPytorch(python: string, script: string, args: string[]): Record<string, unknown> {
  const out = execFileSync(python, [join(PYTORCH_SCRIPTS, script), ...args], { encoding: "utf-8", stdio: ["ignore", "pipe", "inherit"] });
  const line = out.trim().split("\n").pop() ?? "";
  return JSON.parse(line) as Record<string, unknown>;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
