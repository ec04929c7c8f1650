/** `simclr distill --teacher PATH --out DIR [pretrain's flags]` */
import { configFileKeys } from "../config/load.js";
import { teacherOutDim } from "../jobs/teacher.js";
import { UsageError } from "./common.js";
import { pretrainCommand } from "./pretrain.js";

export const DISTILL_HELP = `simclr distill --teacher PATH --out DIR [--set distill.mode=labels] [--set key=value ...] [--config FILE] [--resume [auto] | --force] [--nproc N ...]

Trains a student encoder (model.arch, model.width, ... as pretrain's) and its head from a
frozen teacher on SimCLR's augmented views of unlabelled images, instead of NT-Xent:
  embedding (default)   the student's projection learns the teacher's h (centred on each
                        batch's mean), loss 1 - cosine
                        (distill.loss=mse: the mean squared difference of the l2-normalised
                        vectors); PATH is a pretraining (or distillation) run directory, or one
                        of its checkpoint folders; metrics.jsonl's distill_cos is the mean cosine
  labels                SimCLRv2's distillation: the student's head gives logits that learn a
                        fine-tuned classifier's soft labels at distill.temperature; PATH is
                        RUN/finetuned/NAME (simclr finetune writes it); distill_agree is the
                        share of views whose argmaxes agree; unless --set or --config says
                        otherwise, the student's head is linear (head.layers=1) and its views
                        are crop + flip (augment.color, .grayscale, .blur false), as in
                        SimCLRv2, whose code distorts colour only when pretraining;
                        simclr eval head scores the student as the classifier it is
The teacher runs in inference mode; head.outDim is set to the teacher's h size or classes.
Everything else is pretrain's: the schedule, checkpoints, --resume, TensorBoard, monitors,
export. DIR/teacher.json records the teacher (run, checkpoint, architecture, sha256 of its
weights). This is \`simclr pretrain --set distill.teacher=PATH --set head.outDim=D\`; see
docs/deploy.md.`;

export async function distillCommand(argv: string[]): Promise<number> {
  if (argv.includes("--help")) {
    process.stdout.write(`${DISTILL_HELP}\n`);
    return 0;
  }
  const at = argv.findIndex((a) => a === "--teacher" || a.startsWith("--teacher="));
  const resuming = argv.some((a) => a === "--resume" || a.startsWith("--resume="));
  const explicitResume = resuming && !argv.some((a, i) => a === "--resume=auto" || (a === "--resume" && argv[i + 1] === "auto"));
  if (at === -1) {
    if (explicitResume) return pretrainCommand(argv); // the teacher is in the run's config
    throw new UsageError("distill needs --teacher RUN (a run directory or one of its checkpoint folders; with distill.mode=labels, RUN/finetuned/NAME)");
  }
  if (explicitResume) throw new UsageError("--resume continues with the run's saved config, teacher included: drop --teacher");
  const arg = argv[at] as string;
  const teacher = arg.includes("=") ? arg.slice("--teacher=".length) : argv[at + 1];
  if (teacher === undefined || teacher === "" || teacher.startsWith("--")) throw new UsageError("--teacher needs a run directory");
  const rest = [...argv.slice(0, at), ...argv.slice(at + (arg.includes("=") ? 1 : 2))];
  const setsOutDim = rest.some((a, i) => (a === "--set" && rest[i + 1]?.startsWith("head.outDim=")) || a.startsWith("--set=head.outDim="));
  const labels = rest.some((a, k) => (a === "--set" && rest[k + 1] === "distill.mode=labels") || a === "--set=distill.mode=labels");
  const outDim = setsOutDim ? [] : ["--set", `head.outDim=${teacherOutDim(teacher, labels ? "labels" : "embedding")}`];
  const sets = ["--set", `distill.teacher=${teacher}`, ...outDim, ...(labels ? labelDefaults(rest).flatMap((s) => ["--set", s]) : [])];
  return pretrainCommand([...sets, ...rest]);
}

/**
 * SimCLRv2's student (Chen et al. 2020b, section 2), where neither a --set nor the --config
 * file names the key: a linear classifier head, and the fine-tuning views (crop + flip).
 */
const LABEL_STUDENT = { "head.layers": "1", "augment.color": "false", "augment.grayscale": "false", "augment.blur": "false" } as const;

function labelDefaults(rest: string[]): string[] {
  const named = new Set<string>();
  rest.forEach((a, i) => {
    const set = a === "--set" ? rest[i + 1] : a.startsWith("--set=") ? a.slice("--set=".length) : undefined;
    if (set !== undefined) named.add(set.split("=")[0]!);
    const file = a === "--config" ? rest[i + 1] : a.startsWith("--config=") ? a.slice("--config=".length) : undefined;
    if (file !== undefined) for (const key of configFileKeys(file)) named.add(key);
  });
  return Object.entries(LABEL_STUDENT).flatMap(([key, value]) => (named.has(key) ? [] : [`${key}=${value}`]));
}
