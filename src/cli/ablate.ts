/** `simclr ablate --plan PLAN.yaml --out DIR [--dry-run]`, `simclr ablate --quick --out DIR`, `simclr ablate report DIR --out FILE.html` */
import { parseArgs } from "node:util";
import { ablate, planRuns, studyFiles } from "../jobs/ablate.js";
import { QUICK_PLAN, readPlan } from "../jobs/ablate-plan.js";
import { ablationReport } from "../jobs/ablation-report.js";
import { UsageError, printResult } from "./common.js";

export const ABLATE_HELP = `simclr ablate --plan PLAN.yaml --out DIR [--dry-run]
simclr ablate --quick --out DIR
simclr ablate report DIR --out FILE.html [--markdown FILE.md]

Runs an ablation study (SCIENCE.md): the plan's arms (config overrides) x seeds, one at a
time and interleaved across seeds, each pretrained in its own run directory under DIR/runs/
and evaluated the same way (the linear probe and kNN on h and z). DIR/results.jsonl gets a
line per finished run and DIR/summary.json the per-arm statistics and every gate's paired
differences and verdict. Rerunning the same command continues: finished runs are skipped and
the unfinished one resumes from its checkpoint (Ctrl-C checkpoints and stops). DIR is locked
while a study runs in it. Progress shows the study's time left, from the measured throughput.
  --plan FILE   the plan (examples/ablate-cifar10.yaml: SCIENCE.md's core blocks;
                examples/ablate-cifar10-pilot.yaml: its pilot)
  --quick       the Fashion-MNIST smoke plan (examples/ablate-fmnist-quick.yaml), no claims
  --dry-run     lists the runs and their configs' differences without running anything
report writes one offline HTML page of DIR's study: the augmentation table, the head bars at
h and z, the loss table, the length curve and every gate beside the paper's numbers;
--markdown FILE.md writes its tables as Markdown too.`;

export async function ablateCommand(argv: string[]): Promise<number> {
  if (argv[0] === "report") return reportSubcommand(argv.slice(1));
  const { values } = parseArgs({
    args: argv,
    options: { plan: { type: "string" }, out: { type: "string" }, quick: { type: "boolean" }, "dry-run": { type: "boolean" }, help: { type: "boolean" } },
  });
  if (values.help) {
    process.stdout.write(`${ABLATE_HELP}\n`);
    return 0;
  }
  if (values.quick && values.plan !== undefined) throw new UsageError("ablate takes --plan FILE or --quick, not both");
  const planPath = values.quick ? QUICK_PLAN : values.plan;
  if (planPath === undefined) throw new UsageError("ablate needs --plan PLAN.yaml (or --quick)");
  const { plan, text } = readPlan(planPath);
  if (values["dry-run"]) {
    let views = 0;
    for (const [i, run] of planRuns(plan).entries()) {
      const set =
        run.spec === null
          ? run.kind
          : Object.entries(run.spec.set)
              .map(([k, v]) => `${k}=${String(v)}`)
              .join(" ") || "(base)";
      const budget = run.kind === "pretrain" ? run.config.train.budgetViews : run.kind === "supervised" ? run.config.supervised.budgetViews : null;
      views += budget ?? 0;
      process.stdout.write(`${String(i + 1).padStart(3)}  ${run.name.padEnd(20)} ${set}${budget ? `  (${budget.toLocaleString("en-US")} views)` : ""}\n`);
    }
    if (views > 0)
      process.stdout.write(
        `${views.toLocaleString("en-US")} views of training in all: about ${(views / 760 / 3600).toFixed(1)} h at 760 views/s, plus the evaluations\n`,
      );
    return 0;
  }
  if (values.out === undefined) throw new UsageError("ablate needs --out DIR (where the study's runs, results.jsonl and summary.json go)");
  const result = await ablate(values.out, plan, text);
  const { summary } = result;
  printResult({
    status: result.status,
    out: result.out,
    runs: `${summary.done}/${summary.total}`,
    gates: summary.gates.map((g) => `${g.id} ${g.verdict}${g.mean === null ? "" : ` (${g.mean.toFixed(2)})`}`).join(", "),
    summary: studyFiles(values.out).summary,
  });
  if (result.status === "stopped") {
    process.stderr.write(`continue with the same command: simclr ablate ${values.quick ? "--quick" : `--plan ${planPath}`} --out ${values.out}\n`);
    return 130;
  }
  return 0;
}

async function reportSubcommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { out: { type: "string" }, markdown: { type: "string" }, help: { type: "boolean" } },
  });
  if (values.help) {
    process.stdout.write(`${ABLATE_HELP}\n`);
    return 0;
  }
  const dir = positionals[0];
  if (dir === undefined || positionals.length > 1) throw new UsageError("ablate report takes one study folder: simclr ablate report DIR --out FILE.html");
  if (values.out === undefined) throw new UsageError("ablate report needs --out FILE.html");
  const result = await ablationReport(dir, { out: values.out, ...(values.markdown !== undefined ? { markdown: values.markdown } : {}) });
  printResult({ out: result.out, bytes: result.bytes, gates: result.gates, charts: result.charts });
  return 0;
}
