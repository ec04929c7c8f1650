/** Finds a Python with PyTorch for the comparison halves of benchmarks. */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** bench/pytorch in the source tree (benchmarks run from dist/bench). */
export const PYTORCH_SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bench", "pytorch");

const PROJECT_VENV_PYTHON = join(dirname(fileURLToPath(import.meta.url)), "..", "..", ".venv", "bin", "python");

/**
 * SIMCLR_PYTHON, else the project venv's Python (pip's torch 2.13, made by
 * `SIMCLR_ENGINE=pip bash scripts/setup.sh`), else python3, else /usr/bin/python3 (Debian's
 * python3-torch 1.13): the first that imports torch (and torchvision, when `torchvision`).
 */
export function pythonWithTorch(torchvision = false): string | null {
  const candidates = [process.env.SIMCLR_PYTHON, PROJECT_VENV_PYTHON, "python3", "/usr/bin/python3"].filter((c): c is string => !!c);
  for (const python of candidates) {
    try {
      execFileSync(python, ["-c", torchvision ? "import torch, torchvision" : "import torch"], { stdio: "ignore" });
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
