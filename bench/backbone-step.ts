/**
 * Encoder forward + backward throughput for every backbone (ResNet-18, MobileNetV3 small and
 * large, EfficientNet-B0), this package against torchvision's models on the same machine in
 * the same run; rounds alternate between the two so drift hits both. Both sides in NCHW, BN in
 * training mode, loss mean(h^2). Prints one JSON line with a row per backbone.
 *   node dist/bench/backbone-step.js [--archs resnet18,mobilenet_v3_small,...] [--size 32]
 *        [--channels 3] [--batch 128] [--steps 3] [--rounds 3] [--cifar-stem true] [--pytorch eager,compile]
 * ResNet-18 runs at width 16 (the project's default; torchvision's is 64). The PyTorch side
 * (bench/pytorch/backbone_step.py) needs torchvision: SIMCLR_PYTHON names the python (Debian's
 * python3-torchvision gives the same libtorch 1.13 as Debian's libtorch-dev; pip's torch 2.14.1
 * with torchvision 0.29.1 is today's PyTorch). --pytorch eager,compile times torchvision's
 * modules eagerly and under torch.compile (PyTorch 2.x), each mode in every round.
 */
import { parseArgs } from "node:util";
import { buildEncoder, getNumThreads, manualSeed, randn, tidy, type EncoderArch } from "../src/index.js";
import { native } from "../src/native.js";
import { median, pythonWithTorch, runPytorch } from "./python.js";

const { values } = parseArgs({
  options: {
    archs: { type: "string", default: "resnet18,mobilenet_v3_small,mobilenet_v3_large,efficientnet_b0" },
    size: { type: "string", default: "32" },
    channels: { type: "string", default: "3" },
    batch: { type: "string", default: "128" },
    steps: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    "cifar-stem": { type: "string", default: "true" },
    pytorch: { type: "string", default: "eager" },
  },
});
const modes = values.pytorch.split(",");
for (const m of modes) if (m !== "eager" && m !== "compile") throw new Error(`--pytorch takes eager and compile, got '${m}'`);
const [size, channels, batch, steps, rounds] = [values.size, values.channels, values.batch, values.steps, values.rounds].map(Number) as [
  number,
  number,
  number,
  number,
  number,
];
const cifarStem = values["cifar-stem"] === "true";
const archs = values.archs.split(",") as EncoderArch[];

/** Median images/s over `steps` timed steps after one warm-up step. */
function ours(arch: EncoderArch): { imagesPerS: number; parameters: number } {
  manualSeed(0);
  const encoder = buildEncoder({ arch, inChannels: channels, cifarStem, ...(arch.startsWith("resnet") ? { width: 16 } : {}) }).train();
  const x = randn([batch, channels, size, size]);
  const step = () => {
    tidy(() => {
      const h = encoder.call(x); // (B, featureDim)
      h.mul(h).mean().backward();
    });
    encoder.zeroGrad();
  };
  step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  const parameters = encoder.parameters().reduce((n, p) => n + p.numel, 0);
  encoder.dispose();
  x.dispose();
  return { imagesPerS: batch / (median(times) / 1000), parameters };
}

const python = pythonWithTorch(true);
const rows = [];
for (const arch of archs) {
  const oursRuns: number[] = [];
  const torchRuns = new Map<string, number[]>(modes.map((m) => [m, []]));
  let parameters = 0;
  let torchVersion = "";
  for (let r = 0; r < rounds; r++) {
    const o = ours(arch);
    oursRuns.push(o.imagesPerS);
    parameters = o.parameters;
    if (python === null) continue;
    for (const mode of modes) {
      const args = ["--arch", arch, "--size", String(size), "--channels", String(channels), "--batch", String(batch), "--steps", String(steps)];
      const t = runPytorch(python, "backbone_step.py", [
        ...args,
        "--threads",
        String(getNumThreads()),
        "--cifar-stem",
        String(cifarStem),
        "--compile",
        String(mode === "compile"),
      ]);
      torchRuns.get(mode)!.push(t.images_per_s as number);
      torchVersion = `torch ${String(t.torch)}, torchvision ${String(t.torchvision)}`;
      if (t.parameters !== parameters) throw new Error(`${arch}: ${parameters} parameters here, ${String(t.parameters)} in torchvision`);
    }
  }
  const simclr = median(oursRuns);
  const pytorch = python === null ? null : median(torchRuns.get(modes[0]!)!);
  rows.push({
    arch,
    parameters,
    images_per_s: Number(simclr.toFixed(1)),
    pytorch_images_per_s: pytorch === null ? null : Number(pytorch.toFixed(1)),
    ratio_vs_pytorch: pytorch === null ? null : Number((simclr / pytorch).toFixed(3)),
    ...(python !== null && modes.length > 1
      ? {
          by_mode: Object.fromEntries(
            modes.map((m) => {
              const v = median(torchRuns.get(m)!);
              return [m, { images_per_s: Number(v.toFixed(1)), ratio: Number((simclr / v).toFixed(3)) }];
            }),
          ),
        }
      : {}),
    rounds: {
      simclr: oursRuns.map((v) => Number(v.toFixed(1))),
      ...Object.fromEntries(modes.map((m) => [m, torchRuns.get(m)!.map((v) => Number(v.toFixed(1)))])),
    },
    pytorch_engine: torchVersion,
  });
}
console.log(
  JSON.stringify({
    bench: "backbone-step",
    config: { size, channels, batch, steps, rounds, cifarStem, threads: getNumThreads(), layout: "NCHW", pytorch: modes },
    engine: `libtorch ${native.version().torch}`,
    rows,
  }),
);
