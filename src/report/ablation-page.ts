/**
 * The ablation study's page (`simclr ablate report`), in the style of the run report: one
 * offline HTML file with inline SVG charts. Its tables follow the paper's figures: the
 * augmentation arms (Figure 5), the projection heads at h and z (Figure 8), the loss arms with
 * contrastive accuracy and top-1 (Table 5), the length and batch curves (Figure 9), and every
 * gate with its verdict beside the paper's number.
 */
import type { GateResult, StudyRun } from "../eval/study.js";
import { barChart, lineChart, renderSvg, type BarPoint, type SeriesPoint } from "./charts.js";
import { chartFigure, escapeHtml, htmlTable, reportPage, type Section } from "./page.js";

/** An arm as the page shows it: the summary's statistics and the settings that define it. */
export interface PageArm {
  id: string;
  label: string;
  block: string;
  mean: Record<string, number>;
  sd: Record<string, number | null>;
  seeds: (number | null)[];
  /** Resolved settings the tables show: head layers, temperature, l2, views, batch. */
  settings: { headLayers: number; temperature: number; normalize: boolean; views: number; batch: number };
}

export interface AblationPageData {
  title: string;
  description: string;
  done: number;
  total: number;
  passed: boolean | null;
  defaultArm: string;
  arms: PageArm[];
  runs: StudyRun[];
  gates: GateResult[];
  /** The plan's kNN k (the tables show the largest and the smallest). */
  knn: number[];
  /** Pretraining loss per step of chosen runs (seed 0 of the length and batch arms). */
  curves: { run: string; points: { step: number; views: number; loss: number }[] }[];
  updatedAt: string;
}

const pct = (v: number | undefined | null) => (v === undefined || v === null || !Number.isFinite(v) ? "-" : (v * 100).toFixed(1));
const pm = (arm: PageArm, metric: string) => {
  const m = arm.mean[metric];
  if (m === undefined) return "-";
  const sd = arm.sd[metric];
  return sd === null || sd === undefined ? pct(m) : `${pct(m)} ± ${(sd * 100).toFixed(1)}`;
};
const HEADS = ["none", "linear", "nonlinear"];
const headName = (layers: number) => (layers < 2 ? HEADS[layers]! : layers === 2 ? "nonlinear" : `nonlinear (${layers} layers)`);

function verdictCell(g: GateResult): string {
  const colour = g.verdict === "pass" ? "#2a9d4b" : g.verdict === "fail" ? "#d1495b" : "#888";
  return `<span style="color:${colour};font-weight:bold">${g.verdict}${g.soft ? " (soft)" : ""}</span>`;
}

function gatesTable(gates: GateResult[]): string {
  if (gates.length === 0) return `<p class="note">This plan has no gates.</p>`;
  const rows = gates.map((g) => {
    const pairs = g.pairs.map((p) => `${p.seed ?? "-"}: ${p.diff >= 0 ? "+" : ""}${p.diff.toFixed(1)}`).join(", ");
    const cells = [
      escapeHtml(g.id),
      escapeHtml(g.check),
      verdictCell(g),
      g.mean === null ? "-" : `${g.mean >= 0 ? "+" : ""}${g.mean.toFixed(2)}${g.sd === null ? "" : ` ± ${g.sd.toFixed(2)}`}`,
      `${g.positive}/${g.pairs.length}`,
      g.agreeMean === null ? "-" : g.agreeMean.toFixed(2),
      escapeHtml(pairs || "-"),
      escapeHtml(g.reason),
      escapeHtml(g.paper ?? ""),
    ];
    return `<tr>${cells.map((c, i) => `<td${i === 3 || i === 4 || i === 5 ? ' class="num"' : ""}>${c}</td>`).join("")}</tr>`;
  });
  const header = ["gate", "check", "verdict", "mean diff (points)", "positive", "kNN diff", "per seed", "rule and numbers", "the paper"];
  return `<table><thead><tr>${header.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** A Markdown table under a level-4 heading; pipes in cells are escaped. */
function markdownTable(title: string, header: string[], rows: string[][]): string {
  const cell = (c: string) => c.replace(/\|/g, "\\|").replace(/\n/g, " ");
  return [
    `#### ${title}`,
    "",
    `| ${header.map(cell).join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
    "",
  ].join("\n");
}

function blockArms(data: AblationPageData, block: string): PageArm[] {
  // the default arm joins every block that has an arm of its own
  const arms = data.arms.filter((a) => a.block === block);
  const def = data.arms.find((a) => a.id === data.defaultArm);
  return arms.length > 0 && def !== undefined && !arms.includes(def) ? [def, ...arms] : arms;
}

function perSeed(data: AblationPageData, arm: string, metric: string): string {
  return data.runs
    .filter((r) => r.arm === arm)
    .map((r) => `${r.seed ?? "-"}: ${pct(r.metrics[metric])}`)
    .join(", ");
}

/** Builds the page; the charts are rendered here (Vega, no script in the page). */
export async function ablationPage(data: AblationPageData): Promise<{ html: string; charts: number; markdown: string }> {
  const sections: Section[] = [];
  // every table also goes to the Markdown version (docs/science.md carries it), under its section's title
  const markdown: string[] = [];
  /** One block of the page: a section (its intro, then its table) and the same table in Markdown. */
  const addBlock = (id: string, title: string, intro: string, header: string[], rows: string[][], numericFrom: number) => {
    markdown.push(markdownTable(title, header, rows));
    sections.push({ id, title, html: intro + htmlTable(header, rows, numericFrom) });
  };
  const kBig = data.knn.length > 0 ? Math.max(...data.knn) : null;
  const kSmall = data.knn.length > 1 ? Math.min(...data.knn) : null;
  const knnCols = (f: "h" | "z", both = true) =>
    [kBig, both ? kSmall : null].filter((k): k is number => k !== null).map((k) => ({ name: `kNN ${k} ${f}`, metric: `knn${k}_${f}` }));
  let charts = 0;
  const def = data.arms.find((a) => a.id === data.defaultArm);
  const delta = (arm: PageArm, metric: string) => {
    const [a, d] = [arm.mean[metric], def?.mean[metric]];
    return a === undefined || d === undefined || arm.id === data.defaultArm ? "" : `${a >= d ? "+" : ""}${((a - d) * 100).toFixed(1)}`;
  };

  const verdict = !data.gates.some((g) => !g.soft)
    ? "this plan has only soft gates"
    : data.passed === null
      ? "hard gates pending"
      : data.passed
        ? "every hard gate passed"
        : "a hard gate failed";
  sections.push({
    id: "gates",
    title: "Gates",
    html:
      `<p class="note">${escapeHtml(`${data.done} of ${data.total} runs finished; ${verdict}.`)} Every gate compares the linear probe on h ` +
      `(top-1, points) by paired seeds; kNN${kBig === null ? "" : ` (k ${kBig})`} must agree in sign. Soft gates are reported, not counted.</p>${gatesTable(data.gates)}`,
  });
  markdown.push(
    markdownTable(
      "Gates",
      ["gate", "check", "verdict", "mean diff (points)", "positive", "per seed", "the paper"],
      data.gates.map((g) => [
        g.id,
        g.check,
        `${g.verdict}${g.soft ? " (soft)" : ""}`,
        g.mean === null ? "-" : `${g.mean >= 0 ? "+" : ""}${g.mean.toFixed(2)}${g.sd === null ? "" : ` ± ${g.sd.toFixed(2)}`}`,
        `${g.positive}/${g.pairs.length}`,
        g.pairs.map((p) => `${p.seed ?? "-"}: ${p.diff >= 0 ? "+" : ""}${p.diff.toFixed(1)}`).join(", ") || "-",
        g.paper ?? "",
      ]),
    ),
  );

  const augmentation = blockArms(data, "augmentation");
  if (augmentation.length > 0) {
    addBlock(
      "augmentation",
      "Augmentation arms (Figure 5)",
      `<p class="note">Both views of an image get the same family of transforms (a symmetric version of Figure 5's pairs). Linear probe and kNN top-1 on h, mean ± SD over seeds; the difference is from the default arm (${escapeHtml(data.defaultArm)}).</p>`,
      ["arm", "transformations", "linear h", "vs default", ...knnCols("h").map((c) => c.name), "per seed (linear h)"],
      augmentation.map((a) => [
        a.id,
        a.label,
        pm(a, "linear_h"),
        delta(a, "linear_h"),
        ...knnCols("h").map((c) => pm(a, c.metric)),
        perSeed(data, a.id, "linear_h"),
      ]),
      2,
    );
  }

  const heads = blockArms(data, "head").sort((a, b) => a.settings.headLayers - b.settings.headLayers);
  if (heads.length > 0) {
    const bars: BarPoint[] = heads.flatMap((a) =>
      (["h", "z"] as const)
        .filter((f) => a.mean[`linear_${f}`] !== undefined)
        .map((f) => ({
          group: headName(a.settings.headLayers),
          series: `linear probe on ${f}`,
          y: a.mean[`linear_${f}`]! * 100,
          sd: (a.sd[`linear_${f}`] ?? 0) * 100,
        })),
    );
    const svg = bars.length > 0 ? await renderSvg(barChart("Projection head: top-1 at h and z", "linear probe top-1 (%)", bars)) : "";
    if (svg !== "") charts++;
    addBlock(
      "head",
      "Projection heads (Figure 8)",
      svg !== "" ? `<div class="charts">${chartFigure(svg, "heads")}</div>` : "",
      ["arm", "head", "linear h", "linear z", "h - z", ...[...knnCols("h", false), ...knnCols("z", false)].map((c) => c.name)],
      heads.map((a) => [
        a.id,
        headName(a.settings.headLayers),
        pm(a, "linear_h"),
        pm(a, "linear_z"),
        a.mean.linear_h !== undefined && a.mean.linear_z !== undefined ? ((a.mean.linear_h - a.mean.linear_z) * 100).toFixed(1) : "-",
        ...[...knnCols("h", false), ...knnCols("z", false)].map((c) => pm(a, c.metric)),
      ]),
      2,
    );
  }

  const losses = blockArms(data, "loss");
  if (losses.length > 0) {
    addBlock(
      "loss",
      "Normalisation and temperature (Table 5)",
      `<p class="note">The paper's Table 5 (ImageNet): with l2, tau 0.05 90.5 / 59.7, tau 0.1 87.8 / 64.4, tau 0.5 68.2 / 60.7, tau 1 59.1 / 58.0 (contrastive accuracy / top-1); without l2 at tau 10, 91.7 / 57.2.</p>`,
      ["arm", "l2", "tau", "contrastive acc", "linear h", ...knnCols("h", false).map((c) => c.name), "final loss"],
      losses.map((a) => [
        a.id,
        a.settings.normalize ? "yes" : "no",
        String(a.settings.temperature),
        pm(a, "contrastive_acc"),
        pm(a, "linear_h"),
        ...knnCols("h", false).map((c) => pm(a, c.metric)),
        a.mean.loss === undefined ? "-" : a.mean.loss.toFixed(3),
      ]),
      1,
    );
  }

  const lengthBatch = [...blockArms(data, "length"), ...data.arms.filter((a) => a.block === "batch")];
  if (lengthBatch.length > 0) {
    const figures: string[] = [];
    const byViews: SeriesPoint[] = blockArms(data, "length")
      .filter((a) => a.mean.linear_h !== undefined)
      .map((a) => ({ x: a.settings.views / 1000, y: a.mean.linear_h! * 100, series: `batch ${a.settings.batch}` }));
    if (byViews.length > 0) {
      figures.push(
        chartFigure(
          await renderSvg(
            lineChart({ title: "Top-1 against the budget", xTitle: "views trained on (thousands)", yTitle: "linear probe top-1 (%)", points: byViews }),
          ),
          "length",
        ),
      );
    }
    const byBatch: SeriesPoint[] = [def, ...data.arms.filter((a) => a.block === "batch")]
      .filter((a): a is PageArm => a !== undefined && a.mean.linear_h !== undefined)
      .map((a) => ({ x: a.settings.batch, y: a.mean.linear_h! * 100, series: `${Math.round(a.settings.views / 1000)}k views` }));
    if (data.arms.some((a) => a.block === "batch") && byBatch.length > 0) {
      figures.push(
        chartFigure(
          await renderSvg(lineChart({ title: "Top-1 against the batch size", xTitle: "batch size", yTitle: "linear probe top-1 (%)", points: byBatch })),
          "batch",
        ),
      );
    }
    const curvePoints: SeriesPoint[] = data.curves.flatMap((c) => c.points.map((p) => ({ x: p.views / 1000, y: p.loss, series: c.run })));
    if (curvePoints.length > 0) {
      figures.push(
        chartFigure(
          await renderSvg(lineChart({ title: "Pretraining loss", xTitle: "views (thousands)", yTitle: "NT-Xent loss", points: curvePoints })),
          "loss-curves",
        ),
      );
    }
    charts += figures.length;
    addBlock(
      "length",
      "Length and batch size (Figure 9)",
      `<p class="note">A longer arm is its own run with its own schedule (warm-up and cosine to its end), not a mid-run checkpoint. The paper (Table B.1, batch 256): 100 epochs 57.5, 800 epochs 66.6.</p>` +
        `<div class="charts">${figures.join("")}</div>`,
      ["arm", "views", "batch", "linear h", ...knnCols("h", false).map((c) => c.name), "contrastive acc"],
      lengthBatch.map((a) => [
        a.id,
        a.settings.views.toLocaleString("en-US"),
        String(a.settings.batch),
        pm(a, "linear_h"),
        ...knnCols("h", false).map((c) => pm(a, c.metric)),
        pm(a, "contrastive_acc"),
      ]),
      1,
    );
  }

  const supervised = data.arms.filter((a) => a.block === "supervised");
  if (supervised.length > 0) {
    addBlock(
      "supervised",
      "Supervised baseline (claim 3)",
      `<p class="note">The same encoder trained with labels and cross-entropy (simclr supervised) at a budget of views; the paper (Table B.3): 90, 500, 1000 epochs give 76.5, 76.2, 75.8, so supervised learning gains little from length where SimCLR gains (Figure 9).</p>`,
      ["arm", "what", "views", "supervised top-1", "per seed"],
      supervised.map((a) => [a.id, a.label, a.settings.views.toLocaleString("en-US"), pm(a, "supervised_top1"), perSeed(data, a.id, "supervised_top1")]),
      2,
    );
  }

  const shown = new Set(["augmentation", "head", "loss", "length", "batch", "supervised"]);
  const others = data.arms.filter((a) => !shown.has(a.block));
  if (others.length > 0) {
    addBlock(
      "other",
      "Baselines and other arms",
      "",
      ["arm", "what", "linear h", "linear z", ...knnCols("h").map((c) => c.name), "per seed (linear h)"],
      others.map((a) => [a.id, a.label, pm(a, "linear_h"), pm(a, "linear_z"), ...knnCols("h").map((c) => pm(a, c.metric)), perSeed(data, a.id, "linear_h")]),
      2,
    );
  }

  const metricNames = [...new Set(data.runs.flatMap((r) => Object.keys(r.metrics)))];
  addBlock(
    "runs",
    "Every run",
    "",
    ["arm", "seed", ...metricNames, "views", "views/s", "pretrain s", "eval s"],
    data.runs.map((r) => [
      r.arm,
      r.seed === null ? "-" : String(r.seed),
      ...metricNames.map((m) => (m === "loss" ? (r.metrics[m]?.toFixed(3) ?? "-") : pct(r.metrics[m]))),
      r.views.toLocaleString("en-US"),
      r.viewsPerSecond === null ? "-" : String(Math.round(r.viewsPerSecond)),
      String(r.seconds.pretrain),
      String(r.seconds.evaluate),
    ]),
    2,
  );

  const subtitle = `${data.description} · updated ${data.updatedAt}`;
  return { html: reportPage(`Ablation study: ${data.title}`, subtitle, sections), charts, markdown: `${markdown.join("\n")}` };
}
