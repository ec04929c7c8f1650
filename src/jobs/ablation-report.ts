/**
 * `simclr ablate report DIR --out FILE.html`: the study in DIR (plan.yaml, results.jsonl and
 * the runs' metrics) as one offline page (report/ablation-page.ts). The summary is recomputed
 * from results.jsonl with the plan's gates, so the page and summary.json cannot disagree.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { trainingImageCount } from "../data/datasets.js";
import { DataError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { pretrainSchedule } from "../recipe/recipe.js";
import { ablationPage, type PageArm } from "../report/ablation-page.js";
import { readJsonLines, runFiles } from "../run/run-dir.js";
import { armConfig, parsePlan, RANDOM_INIT, RAW_PIXELS } from "./ablate-plan.js";
import { readStudyRuns, studyFiles, studySummary } from "./ablate.js";

export interface AblationReportResult {
  out: string;
  bytes: number;
  /** Gates and their verdicts, "G1 pass, G2 fail, ...". */
  gates: string;
  charts: number;
}

/** Writes the page to `out`; with `markdown`, its tables as Markdown too (docs/science.md carries them). */
export async function ablationReport(dir: string, options: { out: string; markdown?: string }): Promise<AblationReportResult> {
  const files = studyFiles(dir);
  if (!existsSync(files.plan)) throw new DataError(dir, `is not a study folder: it has no plan.yaml (an ablation study run into it writes one)`);
  const plan = parsePlan(readFileSync(files.plan, "utf-8"), files.plan);
  const runs = readStudyRuns(dir);
  const summary = studySummary(plan, runs);
  const arms: PageArm[] = summary.arms.map((a) => {
    const spec = plan.arms.find((x) => x.id === a.id) ?? null;
    const config = armConfig(plan, spec, (spec?.seeds ?? plan.seeds)[0]!, files.plan);
    const baseline = a.id === RANDOM_INIT || a.id === RAW_PIXELS;
    // before an arm has run, its planned views (unknown for an image folder without data.limit)
    const images = trainingImageCount(config.data);
    const planned =
      spec?.kind === "supervised"
        ? (config.supervised.budgetViews ?? (images === null ? null : config.supervised.epochs * images))
        : images === null
          ? null
          : pretrainSchedule(config, images).totalSteps * 2 * config.train.batchSize;
    const views = baseline ? 0 : (runs.find((r) => r.arm === a.id)?.views ?? planned ?? 0);
    return {
      ...a,
      settings: {
        headLayers: config.head.layers,
        temperature: config.loss.temperature,
        normalize: config.loss.normalize,
        views,
        batch: config.train.batchSize,
      },
    };
  });
  // loss curves: the first seed of every length and batch arm, and of the default
  const curveArms = plan.arms.filter((a) => a.block === "length" || a.block === "batch" || a.id === plan.defaultArm);
  const curves = curveArms.flatMap((a) => {
    const metrics = join(files.runs, `${a.id}-s${a.seeds[0]}`);
    const lines = readJsonLines(runFiles(metrics).metrics).filter((m) => typeof m.loss === "number" && typeof m.step === "number");
    if (lines.length === 0) return [];
    const batch = arms.find((x) => x.id === a.id)?.settings.batch ?? 256;
    return [
      {
        run: `${a.id} seed ${a.seeds[0]}`,
        points: lines.map((m) => ({ step: m.step as number, views: (m.step as number) * 2 * batch, loss: m.loss as number })),
      },
    ];
  });
  const { html, charts, markdown } = await ablationPage({
    title: plan.name,
    description: plan.description,
    done: summary.done,
    total: summary.total,
    passed: summary.passed,
    defaultArm: plan.defaultArm,
    arms,
    runs,
    knn: plan.evaluation.knn,
    gates: summary.gates,
    curves,
    updatedAt: summary.updatedAt,
  });
  writeFileAtomic(options.out, html);
  if (options.markdown !== undefined) {
    const head = `<!-- the tables of the ablation study in ${dir}: ${summary.done} of ${summary.total} runs, ${summary.updatedAt} -->\n`;
    writeFileAtomic(options.markdown, head + markdown);
  }
  return { out: options.out, bytes: Buffer.byteLength(html), gates: summary.gates.map((g) => `${g.id} ${g.verdict}`).join(", "), charts };
}
