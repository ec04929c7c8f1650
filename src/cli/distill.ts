/** `simclr distill --teacher RUN --out DIR [pretrain's flags]` */
import { teacherOutDim } from "../jobs/teacher.js";
import { UsageError } from "./common.js";
import { pretrainCommand } from "./pretrain.js";

export const DISTILL_HELP = `simclr distill --teacher RUN --out DIR [--set key=value ...] [--config FILE] [--resume [auto] | --force] [--nproc N ...]

Embedding distillation: trains a student encoder (model.arch, model.width, ... as pretrain's)
and its projection head to reproduce a frozen teacher's h on SimCLR's augmented views, with a
cosine loss (distill.loss=mse: the mean squared difference of the l2-normalised vectors). RUN
is a pretraining (or distillation) run directory, or one of its checkpoint folders; its encoder
runs in inference mode. The student's head.outDim is set to the teacher's h size. Everything
else is pretrain's: the schedule, checkpoints, --resume, metrics.jsonl (distill_cos: the mean
cosine between the student's projection and the teacher's h), TensorBoard, monitors, export.
DIR/teacher.json records the teacher (run, checkpoint, architecture, sha256 of its weights).
This is \`simclr pretrain --set distill.teacher=RUN --set head.outDim=D\`; see docs/deploy.md.`;

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
    throw new UsageError("distill needs --teacher RUN (a run directory or one of its checkpoint folders)");
  }
  if (explicitResume) throw new UsageError("--resume continues with the run's saved config, teacher included: drop --teacher");
  const arg = argv[at] as string;
  const teacher = arg.includes("=") ? arg.slice("--teacher=".length) : argv[at + 1];
  if (teacher === undefined || teacher === "" || teacher.startsWith("--")) throw new UsageError("--teacher needs a run directory");
  const rest = [...argv.slice(0, at), ...argv.slice(at + (arg.includes("=") ? 1 : 2))];
  const setsOutDim = rest.some((a, i) => (a === "--set" && rest[i + 1]?.startsWith("head.outDim=")) || a.startsWith("--set=head.outDim="));
  const labels = rest.some((a, k) => (a === "--set" && rest[k + 1] === "distill.mode=labels") || a === "--set=distill.mode=labels");
  const outDim = setsOutDim ? [] : ["--set", `head.outDim=${teacherOutDim(teacher, labels ? "labels" : "embedding")}`];
  const sets = ["--set", `distill.teacher=${teacher}`, ...outDim];
  return pretrainCommand([...sets, ...rest]);
}
