/**
 * ResNet forward + backward throughput, this package against PyTorch on the same machine
 * in the same run (rounds alternate between the two so drift hits both). Prints one JSON
 * line. Defaults: ResNet-18, CIFAR stem, width 64, 32x32x3, batch 256.
 *   node dist/bench/resnet-step.js [--depth 18] [--width 64] [--size 32] [--channels 3]
 *                                  [--batch 256] [--steps 3] [--rounds 3]
 */
import { parseArgs } from "node:util";
import { getNumThreads, manualSeed, randn, resnet, tidy, type ResNetDepth } from "../src/index.js";
import { median, pythonWithTorch, runPytorch } from "./python.js";

const { values } = parseArgs({
  options: {
    depth: { type: "string", default: "18" },
    width: { type: "string", default: "64" },
    size: { type: "string", default: "32" },
    channels: { type: "string", default: "3" },
    batch: { type: "string", default: "256" },
    steps: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
  },
});
const cfg = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number(v)])) as Record<keyof typeof values, number>;

manualSeed(0);
const model = resnet({ depth: cfg.depth as ResNetDepth, width: cfg.width, cifarStem: true, inChannels: cfg.channels }).train();
const x = randn([cfg.batch, cfg.channels, cfg.size, cfg.size]);

function step(): void {
  tidy(() => {
    const h = model.call(x); // (B, featureDim)
    h.mul(h).mean().backward();
  });
  model.zeroGrad();
}

/** Median images/s over `steps` timed steps after one warm-up step. */
function ours(): { images_per_s: number; step_ms: number[] } {
  step();
  const times: number[] = [];
  for (let i = 0; i < cfg.steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { images_per_s: cfg.batch / (median(times) / 1000), step_ms: times.map((t) => Number(t.toFixed(1))) };
}

const python = pythonWithTorch(true);
const pyArgs = ["depth", "width", "size", "channels", "batch", "steps"].flatMap((k) => [`--${k}`, String(cfg[k as keyof typeof cfg])]);
pyArgs.push("--threads", String(getNumThreads()));
const oursRuns: number[] = [];
const torchRuns: number[] = [];
for (let r = 0; r < cfg.rounds; r++) {
  oursRuns.push(ours().images_per_s);
  if (python !== null) torchRuns.push(runPytorch(python, "resnet_step.py", pyArgs).images_per_s as number);
}
const simclr = median(oursRuns);
const pytorch = python === null ? null : median(torchRuns);
console.log(
  JSON.stringify({
    bench: "resnet-step",
    config: { ...cfg, cifarStem: true, threads: getNumThreads() },
    images_per_s: Number(simclr.toFixed(2)),
    pytorch_images_per_s: pytorch === null ? null : Number(pytorch.toFixed(2)),
    ratio_vs_pytorch: pytorch === null ? null : Number((simclr / pytorch).toFixed(3)),
    rounds: { simclr: oursRuns.map((v) => Number(v.toFixed(2))), pytorch: torchRuns.map((v) => Number(v.toFixed(2))) },
  }),
);
