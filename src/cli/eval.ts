/** `simclr eval linear|knn|head --run DIR [--checkpoint FILE] [--random-init] [--raw-pixels] [--set data.*|eval.*=...]` */
import { parseArgs } from "node:util";
import { evaluate, evaluateHead } from "../jobs/evaluate.js";
import { evaluationConfig } from "../jobs/evaluation-config.js";
import { UsageError, flagValues, printResult } from "./common.js";

export const EVAL_HELP = `simclr eval linear|knn|head --run DIR [--checkpoint FILE] [--random-init] [--raw-pixels] [--allow-non-finite] [--protocol fast|paper] [--epochs N] [--k 200|10,200] [--features h|z] [--temperature 0.1] [--labels 1%|10%|N-per-class] [--set data.*|eval.*=...]

Evaluates the representation h of a pretraining run's encoder (frozen, BN in inference mode).
  linear  multinomial logistic regression on standardised features, fit by L-BFGS, its L2
          strength chosen on a held-out 10% of the train split; --protocol paper instead
          trains a linear layer on the frozen encoder as Appendix B.6 does (Nesterov SGD,
          lr 0.1 x B/256, batch 512, crop + flip, --epochs 90)
  knn     weighted kNN: cosine similarity, k nearest, votes exp(sim / T); --k 10,200 scores
          several k from one pass and records a result for each
  head    a label-distilled student (simclr distill --set distill.mode=labels) as the
          classifier it was trained to be: its head's logits scored on the test split (no
          probe trained; protocol "head")
--features z evaluates z = g(h), the projection head's output, instead of h (section 4.2;
the result's protocol is then linear-z or knn-z).
--labels trains on a class-balanced subset of the train split's labels (seed eval.seed), the
paper's low-label view; the result's protocol is then linear-1%, knn-10%, ...
The flags set eval.protocol, eval.epochs, eval.k, eval.temperature and eval.labels.
--random-init evaluates the same architecture untrained (same seed): the baseline.
--raw-pixels uses the flattened pixels in [0, 1] as the features (no encoder).
--allow-non-finite loads weights holding NaN or infinite values (refused by default).
Prints one JSON line and appends it to DIR/results.jsonl.`;

const FLAGS = { protocol: "eval.protocol", epochs: "eval.epochs", k: "eval.k", temperature: "eval.temperature", labels: "eval.labels" } as const;

export async function evalCommand(argv: string[]): Promise<number> {
  const [protocol, ...rest] = argv;
  if (protocol === "--help" || protocol === undefined) {
    process.stdout.write(`${EVAL_HELP}\n`);
    return protocol === undefined ? 2 : 0;
  }
  if (protocol !== "linear" && protocol !== "knn" && protocol !== "head") throw new UsageError(`eval: unknown protocol '${protocol}' (linear, knn, head)`);
  const { values } = parseArgs({
    args: rest,
    options: {
      run: { type: "string" },
      checkpoint: { type: "string" },
      "random-init": { type: "boolean" },
      "raw-pixels": { type: "boolean" },
      "allow-non-finite": { type: "boolean" },
      set: { type: "string", multiple: true },
      protocol: { type: "string" },
      epochs: { type: "string" },
      k: { type: "string" },
      features: { type: "string" },
      temperature: { type: "string" },
      labels: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${EVAL_HELP}\n`);
    return 0;
  }
  if (!values.run) throw new UsageError("eval needs --run DIR (a pretraining run)");
  const features = values.features ?? "h";
  if (features !== "h" && features !== "z") throw new UsageError(`--features must be h or z, got '${features}'`);
  // --k 10,200: several k in one pass (each checked as eval.k is); --k 200 sets eval.k
  const ks = values.k?.includes(",") ? values.k.split(",").map((part) => kValue(part, values.k!)) : undefined;
  const flags = ks === undefined ? values : { ...values, k: undefined };
  const config = evaluationConfig(values.run, { set: values.set ?? [], setSource: "--set", values: flagValues(flags, FLAGS) });
  if (config.eval.protocol === "paper" && protocol === "linear" && values["raw-pixels"]) {
    throw new UsageError("eval.protocol paper (--protocol paper) trains on the encoder's h; it does not apply to --raw-pixels");
  }
  if (protocol === "head") {
    for (const flag of ["random-init", "raw-pixels", "features", "k", "labels", "protocol", "epochs", "temperature"] as const)
      if (values[flag] !== undefined) throw new UsageError(`eval head scores the run's own head: --${flag} does not apply to it`);
    const result = await evaluateHead(values.run, config, {
      ...(values.checkpoint !== undefined ? { checkpoint: values.checkpoint } : {}),
      allowNonFinite: values["allow-non-finite"] ?? false,
    });
    printResult(result);
    return 0;
  }
  const result = await evaluate(values.run, config, {
    protocol: protocol,
    ...(values.checkpoint !== undefined ? { checkpoint: values.checkpoint } : {}),
    randomInit: values["random-init"] ?? false,
    rawPixels: values["raw-pixels"] ?? false,
    allowNonFinite: values["allow-non-finite"] ?? false,
    features,
    ...(ks !== undefined ? { ks } : {}),
  });
  printResult(result);
  return 0;
}

function kValue(part: string, whole: string): number {
  const k = Number(part.trim());
  if (!/^\s*\d+\s*$/.test(part) || !Number.isSafeInteger(k) || k < 1) {
    throw new UsageError(`--k must be a positive integer or a comma-separated list of them (10,200), got '${whole}'`);
  }
  return k;
}
