/** `simclr supervised --out DIR [--config FILE] [--set key=value ...] [--epochs N] [--lr X] [--batch B] [--subset FILE]` */
import { parseArgs } from "node:util";
import { trainSupervised } from "../jobs/supervised.js";
import { CONFIG_OPTIONS, UsageError, printConfig, printResult, resolveConfig } from "./common.js";

export const SUPERVISED_HELP = `simclr supervised --out DIR [--config FILE.yaml] [--set key=value ...] [--epochs N] [--lr X] [--batch B] [--subset FILE]

The supervised baseline: the configured encoder trained from scratch with labels and
cross-entropy on the train split (its first data.limit images when set), crop + flip
augmentation, Nesterov SGD with cosine decay. --epochs, --lr and --batch set
supervised.epochs, supervised.lr (base, x B/256) and supervised.batchSize. Prints test
top-1/top-5 and appends it to DIR/results.jsonl; the weights go to DIR/supervised.safetensors.
--subset FILE trains on the labels of a fine-tuning's subset only (RUN/subsets/*.json, written
by simclr finetune), for the low-label comparison on the same labels.`;

const FLAGS = { epochs: "supervised.epochs", lr: "supervised.lr", batch: "supervised.batchSize" } as const;

export async function supervisedCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...CONFIG_OPTIONS,
      out: { type: "string" },
      epochs: { type: "string" },
      lr: { type: "string" },
      batch: { type: "string" },
      subset: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${SUPERVISED_HELP}\n`);
    return 0;
  }
  if (!values.out) throw new UsageError("supervised needs --out DIR");
  const config = resolveConfig(values, FLAGS);
  printConfig(config);
  printResult(await trainSupervised(values.out, config, values.subset !== undefined ? { subsetFile: values.subset } : {}));
  return 0;
}
