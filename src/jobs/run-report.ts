/**
 * `simclr report`: one self-contained HTML page about a run, for a person to read at a
 * glance: training curves from metrics.jsonl, the evaluation table from results.jsonl, the
 * augmented views, a nearest-neighbour gallery (test images and their nearest training
 * images by cosine similarity of h) and a 2-D UMAP map of the test embeddings coloured by
 * class. `compareReport` puts several runs' curves and results side by side.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import type { Config } from "../config/schema.js";
import { loadDataset, type LoadedDataset } from "../data/datasets.js";
import { comparisonRows, percent, readResults, type ResultLine } from "../eval/compare.js";
import { extractFeatures } from "../eval/features.js";
import { writeFileAtomic } from "../io/atomic.js";
import { buildAugment, dataShape } from "../recipe/recipe.js";
import { lineChart, renderSvg, scatterChart, type SeriesPoint } from "../report/charts.js";
import { umap2d } from "../report/embedding-map.js";
import { chartFigure, escapeHtml, htmlTable, reportPage, type Section } from "../report/page.js";
import { pngDataUri, thumbnail } from "../report/thumbnails.js";
import { gridPng, viewGrid } from "../report/view-grid.js";
import { loadEncoder } from "../run/encoder.js";
import { readJsonLines, runFiles } from "../run/run-dir.js";
import { tensor } from "../tensor/factory.js";
import { withSeed } from "../tensor/rng.js";
import { noGrad } from "../tensor/runtime.js";
import { disposingAfter, tidy, type Owned } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { ProgressReporter } from "../io/progress.js";
import { checkConfig } from "../config/load.js";

export interface ReportOptions {
  /** Load weights that hold NaN or infinite values (refused by default: they give silently wrong results). */
  allowNonFinite?: boolean;
  out: string;
  /** A checkpoint folder or model.safetensors (default: the run's latest). */
  checkpoint?: string;
  /** Training images searched for neighbours (the first this many). */
  bank?: number;
  /** Test images placed on the map. */
  mapPoints?: number;
  /** Where progress and messages go (default: stderr). */
  progress?: ProgressReporter;
}

export interface ReportResult {
  out: string;
  bytes: number;
  sections: string[];
  charts: number;
}

const GALLERY_QUERIES = 8;
const NEIGHBOURS = 8;

type Metric = Record<string, unknown>;
const num = (r: Metric, key: string): number | null => (typeof r[key] === "number" && Number.isFinite(r[key]) ? (r[key] as number) : null);

function points(records: Metric[], x: string, keys: [string, string][]): SeriesPoint[] {
  return records.flatMap((r) =>
    keys.flatMap(([key, series]) => {
      const [xv, yv] = [num(r, x), num(r, key)];
      return xv === null || yv === null ? [] : [{ x: xv, y: yv, series }];
    }),
  );
}

/** The training curves of one run: loss, contrastive accuracy, learning rate, monitors. */
async function curveCharts(metrics: Metric[]): Promise<string[]> {
  const steps = metrics.filter((r) => num(r, "loss") !== null);
  const epochs = metrics.filter((r) => num(r, "epoch_loss") !== null);
  const charts: string[] = [];
  const add = async (name: string, title: string, xTitle: string, yTitle: string, p: SeriesPoint[]) => {
    if (p.length > 0) charts.push(chartFigure(await renderSvg(lineChart({ title, xTitle, yTitle, points: p })), name));
  };
  await add("loss", "NT-Xent loss", "step", "loss", [...points(steps, "step", [["loss", "step"]]), ...points(epochs, "step", [["epoch_loss", "epoch mean"]])]);
  await add(
    "contrastive-accuracy",
    "Contrastive accuracy (positive ranked first)",
    "step",
    "accuracy",
    points(steps, "step", [["contrastive_acc", "accuracy"]]),
  );
  await add("lr", "Learning rate", "step", "lr", points(steps, "step", [["lr", "lr"]]));
  await add(
    "monitors",
    "Monitors at each epoch",
    "epoch",
    "top-1",
    points(epochs, "epoch", [
      ["knn_top1", "kNN top-1"],
      ["probe_acc", "online linear probe"],
    ]),
  );
  await add("collapse", "Collapse monitor: RankMe, the effective rank of h", "epoch", "effective rank", points(epochs, "epoch", [["rankme_h", "RankMe of h"]]));
  await add("throughput", "Throughput", "step", "views / s", points(steps, "step", [["views_per_s", "views/s"]]));
  return charts;
}

function resultsTable(results: ResultLine[]): string {
  if (results.length === 0) return `<p class="note">No evaluations yet: <code>simclr eval</code> and <code>simclr finetune</code> of this run add them.</p>`;
  const extra = (r: ResultLine, key: string) => (r[key] === undefined ? "" : String(r[key]));
  const rows = results.map((r) => [
    r.protocol,
    percent(r.top1),
    typeof r.top5 === "number" ? percent(r.top5) : "",
    extra(r, "train_size"),
    extra(r, "test_size"),
    String(r.encoder ?? ""),
    extra(r, "time"),
  ]);
  return htmlTable(["protocol", "top-1", "top-5", "train images", "test images", "encoder", "time"], rows, 1);
}

/** (Nq, D) x (Nb, D) -> for each query the indices and cosines of its k nearest. */
function nearest(queries: Tensor, bank: Tensor, k: number): { index: number[]; cosine: number[] }[] {
  const kk = Math.min(k, bank.size(0));
  const [v, i] = tidy(() =>
    noGrad(() => {
      const q = queries.div(queries.norm(2, 1, true).clamp(1e-12)); // (Nq, D)
      const b = bank.div(bank.norm(2, 1, true).clamp(1e-12)); // (Nb, D)
      const { values, indices } = q.matmul(b.transpose(0, 1)).topk(kk, 1); // (Nq, kk) of the (Nq, Nb) cosines
      return [values.dataAsNumbers(), indices.dataAsNumbers()];
    }),
  );
  return Array.from({ length: queries.size(0) }, (_, r) => ({
    index: Array.from(i.subarray(r * kk, (r + 1) * kk)),
    cosine: Array.from(v.subarray(r * kk, (r + 1) * kk)),
  }));
}

async function gallery(test: LoadedDataset, train: LoadedDataset, queryIdx: number[], found: { index: number[]; cosine: number[] }[]): Promise<string> {
  const side = 64;
  const labels = (d: LoadedDataset) => (d.labeled ? d.labels.dataAsNumbers() : null);
  const [testLabels, trainLabels] = [labels(test), labels(train)];
  const className = (d: LoadedDataset, l: Float64Array | null, i: number) => (l === null ? "" : (d.classes[l[i] as number] ?? String(l[i])));
  const rows: string[] = [];
  for (let r = 0; r < queryIdx.length; r++) {
    const q = queryIdx[r] as number;
    const cells = [
      `<td><img class="query" width="${side}" height="${side}" alt="query ${q}" src="${await thumbnail(test.images, q, side)}">${escapeHtml(className(test, testLabels, q))}</td>`,
    ];
    const f = found[r]!;
    for (let j = 0; j < f.index.length; j++) {
      const n = f.index[j] as number;
      const same = testLabels !== null && trainLabels !== null ? (testLabels[q] === trainLabels[n] ? "same" : "other") : "";
      cells.push(
        `<td><img class="${same}" width="${side}" height="${side}" alt="neighbour ${n}" src="${await thumbnail(train.images, n, side)}">${escapeHtml(className(train, trainLabels, n))}<br>${(f.cosine[j] as number).toFixed(2)}</td>`,
      );
    }
    rows.push(`<tr>${cells.join("")}</tr>`);
  }
  const legend = testLabels !== null ? " A green border marks a neighbour of the query's class, red another class." : "";
  return `<p class="note">Left: a test image; right: its ${NEIGHBOURS} nearest training images by cosine similarity of the representation h, with the cosine.${legend}</p><table class="gallery">${rows.join("")}</table>`;
}

/** Writes the report of `runDir` to `options.out`. */
export async function runReport(runDir: string, config: Config, options: ReportOptions): Promise<ReportResult> {
  checkConfig(config, "runReport(config)");
  return disposingAfter((owned) => runReportIn(owned, runDir, config, options));
}

async function runReportIn(owned: Owned[], runDir: string, config: Config, options: ReportOptions): Promise<ReportResult> {
  const progress = options.progress ?? new ProgressReporter();
  const files = runFiles(runDir);
  const sections: Section[] = [];
  let charts = 0;

  const metrics = readJsonLines(files.metrics);
  const curves = await curveCharts(metrics);
  charts += curves.length;
  sections.push({
    id: "training",
    title: "Training",
    html:
      curves.length > 0
        ? `<div class="charts">${curves.join("")}</div>`
        : `<p class="note">No training metrics in this run (imported weights, or not trained yet).</p>`,
  });

  const results = existsSync(files.results) ? readResults(runDir) : [];
  const comparison = results.length > 0 ? comparisonRows([runDir]) : null;
  sections.push({
    id: "evaluation",
    title: "Evaluation",
    html:
      (comparison === null
        ? ""
        : htmlTable(
            ["encoder", ...comparison.columns],
            comparison.rows.map((r) => [r.name === runDir ? "this run" : r.name.replace(runDir, "this run"), ...r.values.map(percent)]),
          )) + `<details><summary>every result line</summary>${resultsTable(results)}</details>`,
  });

  // The model, and the data for the views, the gallery and the map.
  const [, side] = dataShape(config);
  progress.message("report: loading the data and the encoder");
  const train = await loadDataset({ ...config.data, limit: options.bank ?? 5000 }, "train");
  owned.push(train.images, train.labels);
  const test = train.hasTestSplit ? await loadDataset({ ...config.data, limit: options.mapPoints ?? 1000 }, "test") : train;
  if (test !== train) owned.push(test.images, test.labels);
  const source = loadEncoder({
    config,
    inChannels: train.images.size(1),
    runDir,
    ...(options.checkpoint !== undefined ? { checkpoint: options.checkpoint } : {}),
    allowNonFinite: options.allowNonFinite ?? false,
  });
  owned.push(source.model);
  const viewsPng = existsSync(files.views)
    ? readFileSync(files.views)
    : await gridPng(
        withSeed(config.train.seed, () => {
          const rows = train.images.narrow(0, 0, Math.min(8, train.images.size(0))); // (8, C, H, W)
          owned.push(rows);
          return viewGrid(rows, buildAugment(config), 4, Math.max(48, side));
        }),
      );
  sections.push({
    id: "views",
    title: "Augmented views",
    html: `<p class="note">Each row: a training image, then four views drawn with the run's augmentation (what the encoder learns to match).</p><img class="grid" alt="augmented views" src="${pngDataUri(viewsPng)}">`,
  });

  progress.message(`report: embedding ${train.images.size(0)} training and ${test.images.size(0)} test images`);
  const device = config.train.device;
  source.model.to(device);
  const trainH = extractFeatures(source.encoder, train.images, { device }); // (Nb, D)
  owned.push(trainH);
  const testH = test === train ? trainH : extractFeatures(source.encoder, test.images, { device }); // (Nt, D)
  if (testH !== trainH) owned.push(testH);
  const nt = test.images.size(0);
  const queryIdx = Array.from({ length: Math.min(GALLERY_QUERIES, nt) }, (_, i) => Math.floor((i * nt) / Math.min(GALLERY_QUERIES, nt)));
  const idx = tensor(queryIdx, { dtype: "int64" });
  const queries = testH.indexSelect(0, idx); // (8, D)
  owned.push(idx, queries);
  // Without a test split the queries are training images: skip each one's own match.
  const found = nearest(queries, trainH, NEIGHBOURS + (test === train ? 1 : 0)).map((f, r) => {
    if (test !== train) return f;
    const keep = f.index
      .map((n, j) => [n, j] as const)
      .filter(([n]) => n !== queryIdx[r])
      .slice(0, NEIGHBOURS);
    return { index: keep.map(([n]) => n), cosine: keep.map(([, j]) => f.cosine[j] as number) };
  });
  sections.push({ id: "neighbours", title: "Nearest neighbours", html: await gallery(test, train, queryIdx, found) });

  progress.message(`report: UMAP of ${nt} test embeddings`);
  const flat = tidy(() => noGrad(() => testH.div(testH.norm(2, 1, true).clamp(1e-12)).dataAsNumbers())); // (Nt, D), rows of norm 1
  const d = testH.size(1);
  const rows = Array.from({ length: nt }, (_, i) => Array.from(flat.subarray(i * d, (i + 1) * d)));
  const xy = umap2d(rows, config.train.seed);
  const labels = test.labeled ? test.labels.dataAsNumbers() : null;
  const pts = xy.map(([x, y], i) => ({ x, y, label: labels === null ? "unlabelled" : (test.classes[labels[i] as number] ?? String(labels[i])) }));
  const map = await renderSvg(
    scatterChart(`UMAP of ${nt} ${test === train ? "training" : "test"} embeddings (h, cosine)`, pts, labels === null ? "" : "class"),
  );
  charts += 1;
  sections.push({
    id: "map",
    title: "Embedding map",
    html: `<p class="note">Nearby points have similar representations; colours are the classes, which the encoder never saw.</p>${chartFigure(map, "umap")}`,
  });

  const trainedAt = existsSync(files.metrics) ? new Date(statSync(files.metrics).mtimeMs).toISOString().slice(0, 16).replace("T", " ") : "";
  const subtitle = `${config.model.arch} width ${config.model.width} on ${config.data.name}, ${config.train.epochs} epochs at batch ${config.train.batchSize}, encoder ${source.origin}${trainedAt ? `, last written ${trainedAt} UTC` : ""}`;
  const html = reportPage(`SimCLR run ${basename(runDir)}`, subtitle, sections);
  writeFileAtomic(options.out, html);
  return { out: options.out, bytes: Buffer.byteLength(html), sections: sections.map((s) => s.id), charts };
}

/** Several runs side by side: their curves overlaid and one results table. */
export async function compareReport(runDirs: string[], out: string): Promise<ReportResult> {
  const name = (dir: string) => basename(dir) || dir;
  const metrics = runDirs.flatMap((dir) => readJsonLines(runFiles(dir).metrics).map((r) => ({ ...r, run: name(dir) })));
  const epochs = metrics.filter((r) => num(r, "epoch_loss") !== null);
  const steps = metrics.filter((r) => num(r, "loss") !== null);
  const byRun = (records: Metric[], x: string, key: string): SeriesPoint[] =>
    records.flatMap((r) => (num(r, x) === null || num(r, key) === null ? [] : [{ x: num(r, x)!, y: num(r, key)!, series: String(r.run) }]));
  const figures: string[] = [];
  for (const [chart, title, records, x, key, yTitle] of [
    ["loss", "NT-Xent loss per step", steps, "step", "loss", "loss"],
    ["epoch-loss", "Epoch mean loss", epochs, "epoch", "epoch_loss", "loss"],
    ["knn", "kNN monitor top-1", epochs, "epoch", "knn_top1", "top-1"],
    ["probe", "Online linear probe", epochs, "epoch", "probe_acc", "accuracy"],
    ["collapse", "RankMe of h (collapse monitor)", epochs, "epoch", "rankme_h", "effective rank"],
  ] as const) {
    const p = byRun(records, x, key);
    if (p.length > 0) figures.push(chartFigure(await renderSvg(lineChart({ title, xTitle: x, yTitle, points: p })), chart));
  }
  const withResults = runDirs.filter((d) => existsSync(runFiles(d).results));
  const comparison = withResults.length > 0 ? comparisonRows(withResults) : null;
  const sections: Section[] = [
    {
      id: "training",
      title: "Training",
      html: figures.length > 0 ? `<div class="charts">${figures.join("")}</div>` : `<p class="note">None of these runs has training metrics.</p>`,
    },
    {
      id: "evaluation",
      title: "Evaluation",
      html:
        comparison === null
          ? `<p class="note">None of these runs has been evaluated.</p>`
          : htmlTable(
              ["encoder", ...comparison.columns],
              comparison.rows.map((r) => [r.name, ...r.values.map(percent)]),
            ),
    },
  ];
  const html = reportPage(`SimCLR runs compared`, runDirs.join(", "), sections);
  writeFileAtomic(out, html);
  return { out, bytes: Buffer.byteLength(html), sections: sections.map((s) => s.id), charts: figures.length };
}
