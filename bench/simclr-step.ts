/**
 * Full SimCLR step (augment two views, forward, NT-Xent, backward, LARS) of this package
 * against the same work in PyTorch (bench/pytorch/simclr_step.py), in both memory layouts on
 * each side, alternating rounds on the same machine. Prints one JSON line with the medians,
 * and the ratios of our best layout to PyTorch's default script (NCHW) and to PyTorch with
 * model and views in channels-last.
 *   node dist/bench/simclr-step.js [--preset fmnist|cifar16|cifar64] [--precision fp32|bf16] [--steps 5] [--rounds 3] [--profile] [--lean]
 * The presets are in bench/step-presets.ts.
 * --profile adds one profiled run of each of the four: phases (ms) and top operators per step.
 * With torch >= 2 (the project venv's 2.13, found first: bench/python.ts) a fifth run per round is
 * PyTorch's whole step under torch.compile (inductor) with channels-last: ratio_vs_pytorch_compile.
 * SIMCLR_PYTHON=/usr/bin/python3 compares against Debian's 1.13 instead.
 */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getNumThreads } from "../src/index.js";
import { native } from "../src/native.js";
const nativeVersion = () => native.version();
import { median, pythonWithTorch, runPytorch } from "./python.js";
import { stepPreset } from "./step-presets.js";

const { values } = parseArgs({
  options: {
    preset: { type: "string", default: "fmnist" },
    precision: { type: "string", default: "fp32" },
    steps: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    batch: { type: "string" },
    profile: { type: "boolean", default: false },
    /** Against the lean PyTorch step (simclr_step.py --lean: simple jitter, torch.optim.SGD); ours with optim.name=sgd. */
    lean: { type: "boolean", default: false },
  },
});
const preset = stepPreset(values.preset);
const batch = values.batch ?? String(preset.batch);
const cli = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli", "main.js");
const FORMATS = ["contiguous", "channels_last"] as const;
type Format = (typeof FORMATS)[number];
const ours = (format: Format, profile: boolean) => {
  const sets = [
    ...preset.sets,
    `train.precision=${values.precision}`,
    `train.batchSize=${batch}`,
    "optim.lr=0.1",
    `train.memoryFormat=${format}`,
    ...(values.lean ? ["optim.name=sgd"] : []),
  ].flatMap((s) => ["--set", s]);
  return JSON.parse(
    execFileSync(process.execPath, [cli, "bench", "--steps", values.steps, "--warmup", "2", ...sets, ...(profile ? ["--profile"] : [])], { encoding: "utf-8" }),
  ) as Record<string, unknown>;
};
const python = pythonWithTorch();
const theirs = (format: Format, profile: boolean, compile = false) =>
  runPytorch(python as string, "simclr_step.py", [
    ...preset.py,
    "--batch",
    batch,
    "--steps",
    values.steps,
    "--precision",
    values.precision,
    "--threads",
    String(getNumThreads()),
    "--memory-format",
    format,
    ...(profile ? ["--profile"] : []),
    ...(compile ? ["--compile", "--warmup", "3"] : []),
    ...(values.lean ? ["--lean"] : []),
  ]);
const torchVersion = python === null ? null : execFileSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf-8" }).trim();
const canCompile = torchVersion !== null && Number(torchVersion.split(".")[0]) >= 2;

const runs: Record<string, number[]> = {
  simclr_contiguous: [],
  simclr_channels_last: [],
  pytorch_contiguous: [],
  pytorch_channels_last: [],
  pytorch_compile: [],
};
/** Each run's peak resident memory (the whole process: runtime, libtorch and the step), MiB. */
const rss: Record<string, number[]> = {
  simclr_contiguous: [],
  simclr_channels_last: [],
  pytorch_contiguous: [],
  pytorch_channels_last: [],
  pytorch_compile: [],
};
/** Each run's peak resident memory before its first step (runtime, libtorch, model and images), MiB. */
const baseRss: Record<string, number[]> = {
  simclr_contiguous: [],
  simclr_channels_last: [],
  pytorch_contiguous: [],
  pytorch_channels_last: [],
  pytorch_compile: [],
};
const record = (key: string, result: Record<string, unknown>) => {
  runs[key]?.push(result.views_per_s as number);
  rss[key]?.push(result.peak_rss_mib as number);
  baseRss[key]?.push(result.baseline_rss_mib as number);
};
for (let r = 0; r < Number(values.rounds); r++) {
  for (const format of FORMATS) {
    record(`simclr_${format}`, ours(format, false));
    if (python !== null) record(`pytorch_${format}`, theirs(format, false));
  }
  if (canCompile) record("pytorch_compile", theirs("channels_last", false, true));
}
const med = (k: string) => (runs[k]?.length ? Number(median(runs[k] as number[]).toFixed(1)) : null);
const best = Math.max(med("simclr_contiguous") ?? 0, med("simclr_channels_last") ?? 0);
const ratio = (k: string) => (med(k) !== null ? Number((best / (med(k) as number)).toFixed(3)) : null);
const profiles = values.profile
  ? Object.fromEntries(
      FORMATS.flatMap((f) => [[`simclr_${f}`, ours(f, true).profile], ...(python !== null ? [[`pytorch_${f}`, theirs(f, true).profile]] : [])]),
    )
  : undefined;
console.log(
  JSON.stringify({
    bench: "simclr-step",
    preset: values.preset,
    precision: values.precision,
    reference: values.lean ? "lean (simclr_step.py --lean; ours optim.name=sgd)" : "mirrored (simclr_step.py)",
    batch: Number(batch),
    threads: getNumThreads(),
    engine: nativeVersion().torch,
    pytorch: torchVersion,
    views_per_s: Object.fromEntries(Object.keys(runs).map((k) => [k, med(k)])),
    best_simclr_layout: (med("simclr_channels_last") ?? 0) >= (med("simclr_contiguous") ?? 0) ? "channels_last" : "contiguous",
    ratio_vs_pytorch_default: ratio("pytorch_contiguous"),
    ratio_vs_pytorch_channels_last: ratio("pytorch_channels_last"),
    ratio_vs_pytorch_compile: ratio("pytorch_compile"),
    peak_rss_mib: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, v.length ? median(v) : null])),
    baseline_rss_mib: Object.fromEntries(Object.entries(baseRss).map(([k, v]) => [k, v.length ? median(v) : null])),
    rounds: runs,
    ...(profiles !== undefined ? { profiles } : {}),
  }),
);
