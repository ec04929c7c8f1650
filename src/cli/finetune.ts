/** `simclr finetune --run DIR --labels 1%|10%|N-per-class [--subset FILE] [--epochs N] [--from-head]` */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../data/datasets.js";
import { loadEncoder } from "../eval/encoder-source.js";
import { balancedSubset, readSubset, writeSubset } from "../eval/subset.js";
import { tensor } from "../tensor/factory.js";
import { manualSeed } from "../tensor/runtime.js";
import { Classifier, evaluateClassifier, trainClassifier } from "../train/supervised.js";
import { UsageError, reportResult, runConfigForEvaluation } from "./common.js";

export const FINETUNE_HELP = `simclr finetune --run DIR --labels 1%|10%|N-per-class [--subset FILE] [--epochs N] [--lr X] [--batch B] [--from-head] [--seed S] [--set data.*=...]

Semi-supervised fine-tuning (SimCLR Appendix B.5): the pretrained encoder and a new linear
classifier are trained on a class-balanced labelled subset with Nesterov SGD (lr 0.05 x B/256,
cosine decay, no warm-up, no weight decay), crop + flip augmentation; 60 epochs for 1%, 30 for
more by default. --from-head keeps the projection head's first layer (SimCLRv2). The subset's
indices go to DIR/subsets/; --subset FILE reuses a saved one. Prints test top-1/top-5 as one
JSON line and appends it to DIR/results.jsonl.`;

export async function finetuneCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      run: { type: "string" },
      labels: { type: "string" },
      subset: { type: "string" },
      epochs: { type: "string" },
      lr: { type: "string" },
      batch: { type: "string", default: "256" },
      seed: { type: "string", default: "0" },
      "from-head": { type: "boolean" },
      set: { type: "string", multiple: true },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${FINETUNE_HELP}\n`);
    return 0;
  }
  if (!values.run) throw new UsageError("finetune needs --run DIR (a pretraining run)");
  if (!values.labels && !values.subset) throw new UsageError("finetune needs --labels 1%|10%|N-per-class (or --subset FILE)");
  const config = runConfigForEvaluation(values.run, values.set, "finetune");
  const seed = Number(values.seed);
  const train = await loadDataset(config.data, "train");
  const test = await loadDataset(config.data, "test");
  if (!train.labeled || !test.labeled) throw new Error(`${config.data.name} has no labels: fine-tuning needs labelled train and test splits`);
  const classes = train.classes.length;
  const n = train.images.shape[0] as number;
  const subset = values.subset ? readSubset(values.subset, n) : balancedSubset(train.labels, classes, values.labels as string, seed);
  if (!values.subset) {
    mkdirSync(join(values.run, "subsets"), { recursive: true });
    const file = join(values.run, "subsets", `labels-${subset.spec.replace("%", "pct")}-seed${seed}.json`);
    writeSubset(file, subset);
    process.stderr.write(`subset: ${subset.indices.length} images (${subset.perClass} per class) -> ${file}\n`);
  }
  const idx = tensor(subset.indices, { dtype: "int64" });
  const images = train.images.indexSelect(0, idx);
  const labels = train.labels.indexSelect(0, idx);

  const { model, origin: checkpoint } = loadEncoder({ runDir: values.run, config, inChannels: train.images.shape[1] as number });
  manualSeed(seed);
  const classifier = new Classifier(model.encoder, classes, values["from-head"] ? model.head : null).to(config.train.device);
  const spec = subset.spec;
  const epochs = values.epochs !== undefined ? Number(values.epochs) : spec === "1%" ? 60 : 30;
  const batch = Number(values.batch);
  const lr = values.lr !== undefined ? Number(values.lr) : (0.05 * Math.min(batch, subset.indices.length)) / 256;
  if (!(Number.isInteger(epochs) && epochs > 0)) throw new UsageError(`--epochs must be a positive integer, got ${values.epochs}`);
  const started = performance.now();
  await trainClassifier(classifier, images, labels, {
    epochs,
    batchSize: batch,
    lr,
    weightDecay: 0,
    device: config.train.device,
    onEpoch: (e, loss) => process.stderr.write(`fine-tune epoch ${e + 1}/${epochs} loss ${loss.toFixed(4)}\n`),
  });
  const { top1, top5 } = evaluateClassifier(classifier, test.images, test.labels, config.train.device);
  reportResult(values.run, {
    protocol: `finetune-${spec}`,
    top1,
    top5,
    train_size: subset.indices.length,
    test_size: test.images.shape[0],
    epochs,
    lr,
    from_head: values["from-head"] ?? false,
    encoder: checkpoint,
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  });
  return 0;
}
