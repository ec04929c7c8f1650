/** `simclr pretrain --out DIR [--config FILE.yaml] [--set key=value ...] [--resume]` */
import { parseArgs } from "node:util";
import { pretrain, resume } from "../jobs/pretrain.js";
import { CONFIG_OPTIONS, UsageError, printConfig, resolveConfig } from "./common.js";

export const PRETRAIN_HELP = `simclr pretrain --out DIR [--config FILE.yaml] [--set key=value ...] [--skip-bad] [--resume]

Pretrains a SimCLR encoder. With no config: the demo's settings (Fashion-MNIST, ResNet-18
width 16, CIFAR stem, batch 256, temperature 0.5). DIR gets config.yaml, metrics.jsonl and
checkpoints/. SIGINT/SIGTERM save a checkpoint and stop; --resume continues from it with
the run's saved config. Keys: see docs/config.md or \`simclr config --keys\`.`;

export async function pretrainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...CONFIG_OPTIONS, out: { type: "string" }, resume: { type: "boolean" }, help: { type: "boolean" } } });
  if (values.help) {
    process.stdout.write(`${PRETRAIN_HELP}\n`);
    return 0;
  }
  if (!values.out) throw new UsageError("pretrain needs --out DIR (where the run is written)");
  if (values.resume && (values.config || values.set || values["skip-bad"])) {
    throw new UsageError("--resume continues with the run's saved config: drop --config/--set/--skip-bad");
  }
  let result;
  if (values.resume) {
    result = await resume({ outDir: values.out });
  } else {
    const config = resolveConfig(values);
    printConfig(config);
    result = await pretrain(config, { outDir: values.out });
  }
  if (result.status === "stopped") {
    process.stderr.write(`continue with: simclr pretrain --out ${values.out} --resume\n`);
    return 130;
  }
  process.stderr.write(`finished after ${result.globalStep} steps; last checkpoint ${result.checkpoint}\n`);
  return 0;
}
