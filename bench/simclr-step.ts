/**
 * Full SimCLR step (augment two views, forward, NT-Xent, backward, LARS) of this package
 * against the same work in PyTorch (bench/pytorch/simclr_step.py), alternating rounds on the
 * same machine. Prints one JSON line with medians and the ratio.
 *   node dist/bench/simclr-step.js [--preset fmnist|cifar64] [--precision fp32|bf16] [--steps 5] [--rounds 3]
 * fmnist: ResNet-18 width 16, 28x28x1, grayscale preset. cifar64: width 64, 32x32x3, cifar preset.
 */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getNumThreads } from "../src/index.js";
import { median, pythonWithTorch, runPytorch } from "./python.js";

const { values } = parseArgs({
  options: {
    preset: { type: "string", default: "fmnist" },
    precision: { type: "string", default: "fp32" },
    steps: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    batch: { type: "string", default: "256" },
  },
});
const presets: Record<string, { sets: string[]; py: string[] }> = {
  fmnist: { sets: ["model.width=16", "augment.preset=grayscale"], py: ["--channels", "1", "--size", "28", "--width", "16"] },
  cifar64: { sets: ["data.name=cifar10", "model.width=64", "augment.preset=cifar"], py: ["--channels", "3", "--size", "32", "--width", "64"] },
};
const preset = presets[values.preset];
if (preset === undefined) throw new Error(`--preset must be one of ${Object.keys(presets).join(", ")}`);
const cli = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli", "main.js");
const sets = [...preset.sets, `train.precision=${values.precision}`, `train.batchSize=${values.batch}`, "optim.lr=0.1"].flatMap((s) => ["--set", s]);
const python = pythonWithTorch();
const ours: { views: number; augment: number }[] = [];
const theirs: { views: number; augment: number }[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  const out = JSON.parse(execFileSync(process.execPath, [cli, "bench", "--steps", values.steps, "--warmup", "2", ...sets], { encoding: "utf-8" })) as Record<string, number>;
  ours.push({ views: out.views_per_s as number, augment: out.augment_views_per_s as number });
  if (python !== null) {
    const py = runPytorch(python, "simclr_step.py", [...preset.py, "--batch", values.batch, "--steps", values.steps, "--precision", values.precision, "--threads", String(getNumThreads())]);
    theirs.push({ views: py.views_per_s as number, augment: py.augment_views_per_s as number });
  }
}
const m = (xs: { views: number; augment: number }[], k: "views" | "augment") => (xs.length ? Number(median(xs.map((x) => x[k])).toFixed(1)) : null);
const simclr = m(ours, "views");
const pytorch = m(theirs, "views");
console.log(
  JSON.stringify({
    bench: "simclr-step",
    preset: values.preset,
    precision: values.precision,
    batch: Number(values.batch),
    views_per_s: simclr,
    pytorch_views_per_s: pytorch,
    ratio_vs_pytorch: simclr !== null && pytorch !== null ? Number((simclr / pytorch).toFixed(3)) : null,
    augment_views_per_s: m(ours, "augment"),
    pytorch_augment_views_per_s: m(theirs, "augment"),
    rounds: { simclr: ours, pytorch: theirs },
  }),
);
