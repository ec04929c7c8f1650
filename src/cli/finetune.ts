/** `simclr finetune --run DIR [--labels 1%|10%|N-per-class] [--subset FILE] [--epochs N] [--from-head]` */
import { parseArgs } from "node:util";
import { evaluationConfig } from "../jobs/evaluation-config.js";
import { finetune } from "../jobs/finetune.js";
import { UsageError, flagValues, printResult } from "./common.js";

export const FINETUNE_HELP = `simclr finetune --run DIR [--labels 1%|10%|N-per-class] [--subset FILE] [--epochs N] [--lr X] [--batch B] [--from-head] [--seed S] [--allow-non-finite] [--set data.*|finetune.*=...]

Semi-supervised fine-tuning (SimCLR Appendix B.5): the pretrained encoder and a new linear
classifier are trained on a class-balanced labelled subset with Nesterov SGD (lr 0.05 x B/256,
cosine decay, no warm-up, no weight decay), crop + flip augmentation; 60 epochs for 1%, 30 for
more by default. The flags set finetune.labels, .epochs, .lr (base, x B/256), .batchSize,
.seed and .fromHead (keep the projection head's first layer, SimCLRv2). The subset's
indices go to DIR/subsets/; --subset FILE reuses a saved one. Prints test top-1/top-5 as one
JSON line and appends it to DIR/results.jsonl.`;

const FLAGS = {
  labels: "finetune.labels",
  epochs: "finetune.epochs",
  lr: "finetune.lr",
  batch: "finetune.batchSize",
  seed: "finetune.seed",
  "from-head": "finetune.fromHead",
} as const;

export async function finetuneCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      run: { type: "string" },
      labels: { type: "string" },
      subset: { type: "string" },
      epochs: { type: "string" },
      lr: { type: "string" },
      batch: { type: "string" },
      seed: { type: "string" },
      "from-head": { type: "boolean" },
      "allow-non-finite": { type: "boolean" },
      set: { type: "string", multiple: true },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${FINETUNE_HELP}\n`);
    return 0;
  }
  if (!values.run) throw new UsageError("finetune needs --run DIR (a pretraining run)");
  const config = evaluationConfig(values.run, { set: values.set ?? [], setSource: "--set", values: flagValues(values, FLAGS) });
  printResult(
    await finetune(values.run, config, {
      ...(values.subset !== undefined ? { subsetFile: values.subset } : {}),
      allowNonFinite: values["allow-non-finite"] ?? false,
    }),
  );
  return 0;
}
