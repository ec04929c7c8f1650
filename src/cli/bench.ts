/** `simclr bench [--config FILE] [--set key=value ...] [--steps N] [--warmup N]` */
import { parseArgs } from "node:util";
import { benchSteps } from "../jobs/bench.js";
import { launchEnv } from "../jobs/pretrain.js";
import { CONFIG_OPTIONS, integerFlag, printResult, resolveConfig } from "./common.js";

export const BENCH_HELP = `simclr bench [--config FILE.yaml] [--set key=value ...] [--steps N] [--warmup N] [--profile] [--sync-check]

Times full pretraining steps (augment both views, forward, NT-Xent, backward, optimizer)
on random images shaped like the configured data set, after a warm-up, and the
augmentation alone. Prints one JSON line. --profile adds the step's phases (ms) and the
operators with the most self time per step, from libtorch's profiler.
--set train.memoryFormat=channels_last times the NHWC layout. On a GPU (train.device=cuda)
each timed step ends by waiting for the GPU, the CUDA allocator's peaks are reported, and
--sync-check runs a few more steps with CUDA's sync debug mode at "error" to report whether
a step makes the host wait for the GPU, and where.`;

export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...CONFIG_OPTIONS,
      steps: { type: "string" },
      warmup: { type: "string" },
      profile: { type: "boolean" },
      "sync-check": { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${BENCH_HELP}\n`);
    return 0;
  }
  const steps = integerFlag("steps", values.steps, 10);
  const warmup = integerFlag("warmup", values.warmup, 2, 0);
  const launch = launchEnv();
  const result = benchSteps(resolveConfig(values), { steps, warmup, launch, profile: values.profile ?? false, syncCheck: values["sync-check"] ?? false });
  if ((launch?.rank ?? 0) === 0) printResult({ ...result });
  return 0;
}
