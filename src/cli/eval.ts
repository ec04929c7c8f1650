/** `simclr eval linear|knn --run DIR [--checkpoint FILE] [--random-init] [--set data.*=...]` */
import { parseArgs } from "node:util";
import { loadDataset } from "../data/datasets.js";
import { loadEncoder } from "../eval/encoder-source.js";
import { extractFeatures } from "../eval/features.js";
import { knnClassify } from "../eval/knn.js";
import { linearProbe, type ProbeFitEvent } from "../eval/logistic.js";
import { manualSeed } from "../tensor/runtime.js";
import type { Tensor } from "../tensor/tensor.js";
import { Classifier, evaluateClassifier, trainClassifier } from "../train/supervised.js";
import { UsageError, reportResult, runConfigForEvaluation } from "./common.js";

export const EVAL_HELP = `simclr eval linear|knn --run DIR [--checkpoint FILE] [--random-init] [--set data.name=...] [--k 200] [--temperature 0.1]

Evaluates the representation h of a pretraining run's encoder (frozen, BN in inference mode).
  linear  multinomial logistic regression on standardised features, fit by L-BFGS, its L2
          strength chosen on a held-out 10% of the train split; --protocol paper instead
          trains a linear layer on the frozen encoder as Appendix B.6 does (Nesterov SGD,
          lr 0.1 x B/256, batch 512, crop + flip, --epochs 90)
  knn     weighted kNN: cosine similarity, k nearest, votes exp(sim / T)
--random-init evaluates the same architecture untrained (same seed): the baseline.
--raw-pixels uses the flattened pixels in [0, 1] as the features (no encoder).
Prints one JSON line and appends it to DIR/results.jsonl.`;

export async function evalCommand(argv: string[]): Promise<number> {
  const [protocol, ...rest] = argv;
  if (protocol === "--help" || protocol === undefined) {
    process.stdout.write(`${EVAL_HELP}\n`);
    return protocol === undefined ? 2 : 0;
  }
  if (protocol !== "linear" && protocol !== "knn") throw new UsageError(`eval: unknown protocol '${protocol}' (linear, knn)`);
  const { values } = parseArgs({
    args: rest,
    options: {
      run: { type: "string" },
      checkpoint: { type: "string" },
      "random-init": { type: "boolean" },
      "raw-pixels": { type: "boolean" },
      set: { type: "string", multiple: true },
      protocol: { type: "string", default: "fast" },
      epochs: { type: "string", default: "90" },
      k: { type: "string", default: "200" },
      temperature: { type: "string", default: "0.1" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${EVAL_HELP}\n`);
    return 0;
  }
  if (!values.run) throw new UsageError("eval needs --run DIR (a pretraining run)");
  const paper = values.protocol === "paper";
  if (values.protocol !== "fast" && !(paper && protocol === "linear")) {
    throw new UsageError(`--protocol must be fast or paper (paper: linear only), got ${values.protocol}`);
  }
  if (paper && values["raw-pixels"]) throw new UsageError("--protocol paper trains on the encoder's h; it does not apply to --raw-pixels");
  const config = runConfigForEvaluation(values.run, values.set, "eval");
  manualSeed(config.train.seed);
  const train = await loadDataset(config.data, "train");
  const test = await loadDataset(config.data, "test");
  if (!train.labeled || !test.labeled) {
    throw new Error(`${config.data.name} at ${config.data.path ?? "its default path"} has no labels: evaluation needs labelled train and test splits (one sub-folder per class)`);
  }
  const inChannels = train.images.shape[1] as number;
  const numClasses = train.classes.length;
  const device = config.train.device;
  const started = performance.now();
  const source = values["raw-pixels"] ? null : loadEncoder({ runDir: values.run, checkpoint: values.checkpoint, randomInit: values["random-init"], config, inChannels });
  source?.encoder.to(device);
  const sizes = { train_size: train.images.shape[0], test_size: test.images.shape[0] };
  let record: Record<string, unknown>;
  if (paper && source !== null) {
    const epochs = Number(values.epochs);
    if (!(Number.isInteger(epochs) && epochs > 0)) throw new UsageError(`--epochs must be a positive integer, got ${values.epochs}`);
    const model = new Classifier(source.encoder, numClasses, null).to(device);
    const batchSize = 512;
    const lr = (0.1 * batchSize) / 256;
    await trainClassifier(model, train.images, train.labels, {
      epochs,
      batchSize,
      lr,
      weightDecay: 0,
      device,
      freezeEncoder: true,
      onEpoch: (e, loss) => process.stderr.write(`linear (paper) epoch ${e + 1}/${epochs} loss ${loss.toFixed(4)}\n`),
    });
    const { top1, top5 } = evaluateClassifier(model, test.images, test.labels, device);
    record = { protocol: "linear-paper", top1, top5, ...sizes, epochs, lr };
  } else {
    // Features once: h of the frozen encoder, or the flattened pixels in [0, 1] (N, C*H*W).
    const features = (images: Tensor) => (source === null ? images.flatten(1).to("float32").div(255) : extractFeatures(source.encoder, images, { device }));
    const trainFeatures = features(train.images);
    const testFeatures = features(test.images);
    if (protocol === "knn") {
      const k = Number(values.k);
      const temperature = Number(values.temperature);
      const r = knnClassify(trainFeatures, train.labels, testFeatures, test.labels, { k, temperature, numClasses });
      record = { protocol: "knn", top1: r.top1, top5: r.top5, ...sizes, k, temperature };
    } else {
      const onFit = ({ l2, iterations, heldOutTop1, done, total }: ProbeFitEvent) =>
        process.stderr.write(
          `linear probe [${done}/${total}] L2 ${l2.toExponential(0)}: ` +
            (heldOutTop1 === undefined ? `refit on the whole train split, ${iterations} iterations\n` : `held-out top-1 ${(heldOutTop1 * 100).toFixed(1)}%, ${iterations} iterations\n`),
        );
      const r = linearProbe(trainFeatures, train.labels, testFeatures, test.labels, { numClasses, onFit });
      record = { protocol: "linear", top1: r.top1, top5: r.top5, ...sizes, l2: r.l2 };
    }
  }
  reportResult(values.run, { ...record, encoder: source?.origin ?? "raw-pixels", data: config.data.name, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) });
  return 0;
}
