/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * simclr report and compare --html, opened as a person would: Debian's headless Chromium via
 * puppeteer-core, every network request refused (the page must be self-contained), no console
 * errors, every chart an SVG with marks and a size, every image decoded. The screenshots go
 * to artifacts/ for a person to look at.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import puppeteer, { type Browser } from "puppeteer-core";
import { loadConfig, pretrain } from "../../src/index.js";
import { runCli, quiet } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-${name}-`));
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "artifacts");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

interface PageCheck {
  consoleErrors: string[];
  requests: string[];
  charts: { name: string; width: number; height: number; marks: number }[];
  images: { alt: string; width: number; complete: boolean }[];
  sections: string[];
  galleryRows: number;
  text: string;
}

async function openReport(browser: Browser, file: string, screenshot: string): Promise<PageCheck> {
  const page = await browser.newPage();
  const consoleErrors: string[] = [];
  const requests: string[] = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.setRequestInterception(true);
  page.on("request", (r) => {
    const url = r.url();
    if (url.startsWith("data:") || url === `file://${file}`) return void r.continue();
    requests.push(url);
    void r.abort();
  });
  await page.setViewport({ width: 1200, height: 900 });
  await page.goto(`file://${file}`, { waitUntil: "load" });
  const result = await page.evaluate(() => ({
    charts: [...document.querySelectorAll("figure.chart")].map((f) => {
      const svg = f.querySelector("svg");
      const box = svg?.getBoundingClientRect();
      return {
        name: f.getAttribute("data-chart") ?? "",
        width: box?.width ?? 0,
        height: box?.height ?? 0,
        marks: svg?.querySelectorAll("path, circle, line").length ?? 0,
      };
    }),
    images: [...document.images].map((i) => ({ alt: i.alt, width: i.naturalWidth, complete: i.complete })),
    sections: [...document.querySelectorAll("section")].map((s) => s.id),
    galleryRows: document.querySelectorAll("table.gallery tr").length,
    text: document.body.innerText,
  }));
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.close();
  return { consoleErrors, requests, ...result };
}

describe("the HTML report in headless Chromium", () => {
  let browser: Browser;
  let run = "";
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh --tests installs Debian's chromium`);
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
    const data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
    run = tmp("run");
    await pretrain(run, loadConfig({ set: syntheticSet(data, ["train.epochs=2", "monitor.knnSamples=100"]) }), { progress: quiet(), handleSignals: false });
    const knn = await runCli(["eval", "knn", "--run", run]);
    assert.equal(knn.code, 0, knn.stderr);
  });
  after(async () => browser?.close());

  test("simclr report: curves, evaluation table, views, an 8x8 neighbour gallery, a UMAP map; offline, no console errors", async () => {
    const out = join(tmp("report"), "report.html");
    const r = await runCli(["report", "--run", run, "--out", out, "--map-points", "200"]);
    assert.equal(r.code, 0, r.stderr);
    const html = readFileSync(out, "utf-8");
    assert.doesNotMatch(html, /<script|<link|src="http|href="http/);
    const check = await openReport(browser, out, join(ARTIFACTS, "report.png"));
    assert.deepEqual(check.consoleErrors, []);
    assert.deepEqual(check.requests, []);
    assert.deepEqual(check.sections, ["training", "evaluation", "views", "neighbours", "map"]);
    assert.deepEqual(
      check.charts.map((c) => c.name),
      ["loss", "contrastive-accuracy", "lr", "monitors", "collapse", "throughput", "umap"],
    );
    for (const c of check.charts) {
      assert.ok(c.width > 200 && c.height > 100, `${c.name} is ${c.width}x${c.height}`);
      assert.ok(c.marks > 5, `${c.name} has ${c.marks} marks`);
    }
    // 8 queries x (1 + 8 neighbours) thumbnails and the views grid, all decoded
    assert.equal(check.galleryRows, 8);
    assert.equal(check.images.length, 8 * 9 + 1);
    for (const i of check.images) assert.ok(i.complete && i.width > 0, `${i.alt} did not decode`);
    assert.match(check.text, /kNN top-1/);
    assert.match(check.text, /this run/);
  });

  test("simclr compare --html: two runs' curves overlaid and one table", async () => {
    const out = join(tmp("compare"), "compare.html");
    const r = await runCli(["compare", "--html", out, run, run]);
    assert.equal(r.code, 0, r.stderr);
    const check = await openReport(browser, out, join(ARTIFACTS, "compare.png"));
    assert.deepEqual(check.consoleErrors, []);
    assert.deepEqual(check.requests, []);
    assert.deepEqual(
      check.charts.map((c) => c.name),
      ["loss", "epoch-loss", "knn", "probe", "collapse"],
    );
    for (const c of check.charts) assert.ok(c.marks > 2 && c.width > 200, c.name);
    assert.match(check.text, /kNN top-1/);
  });

  test("simclr ablate report: gates, the augmentation table, head bars at h and z, the loss table, the length curve; offline", async () => {
    const data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
    const planFile = join(tmp("plan"), "plan.yaml");
    writeFileSync(
      planFile,
      `name: page-check
description: "every block of the page, one seed, synthetic data"
base: { data.name: mnist, data.path: ${JSON.stringify(data)}, model.width: 4, train.batchSize: 64, train.budgetViews: 1024, monitor.knnEvery: 0, monitor.linearProbe: false, eval.maxIterations: 20 }
seeds: [0]
evaluation: { features: [h, z], linear: true, knn: [5, 50] }
baselines: { randomInit: [0], rawPixels: true }
default: A1
arms:
  - { id: A1, label: "crop + flip + jitter", block: augmentation }
  - { id: A2, label: "no crop", block: augmentation, set: { augment.crop: false } }
  - { id: C-none, label: "no head", block: head, set: { head.layers: 0 } }
  - { id: C-linear, label: "linear head", block: head, set: { head.layers: 1 } }
  - { id: D-nol2, label: "no l2, tau 10", block: loss, set: { loss.normalize: false, loss.temperature: 10 } }
  - { id: E-2U, label: "2x the views", block: length, set: { train.budgetViews: 2048 } }
  - { id: S-U, label: "supervised at 512 views", block: supervised, kind: supervised, set: { supervised.budgetViews: 512 } }
gates:
  - { id: G0, check: "A1 vs random init", a: A1, b: random-init, minMean: -100, paper: "not in the paper" }
  - { id: G3, check: "h vs z", a: A1, b: A1, metric: linear_h, bMetric: linear_z, minMean: 1000, paper: "h beats z by more than 10" }
`,
    );
    const study = tmp("study");
    const r = await runCli(["ablate", "--plan", planFile, "--out", study]);
    assert.equal(r.code, 0, r.stderr);
    const out = join(tmp("ablate-report"), "ablate.html");
    const rep = await runCli(["ablate", "report", study, "--out", out]);
    assert.equal(rep.code, 0, rep.stderr);
    const html = readFileSync(out, "utf-8");
    assert.doesNotMatch(html, /<script|<link|src="http|href="http/);
    const check = await openReport(browser, out, join(ARTIFACTS, "ablate-report.png"));
    assert.deepEqual(check.consoleErrors, []);
    assert.deepEqual(check.requests, []);
    assert.deepEqual(check.sections, ["gates", "augmentation", "head", "loss", "length", "supervised", "other", "runs"]);
    assert.match(check.text, /S-U\s+supervised at 512 views\s+512\s+\d+\.\d/, "2 epochs of the 256 images: 512 views");
    assert.deepEqual(
      check.charts.map((c) => c.name),
      ["heads", "length", "loss-curves"],
    );
    for (const c of check.charts) assert.ok(c.width > 200 && c.height > 100 && c.marks > 2, `${c.name}: ${JSON.stringify(c)}`);
    assert.match(check.text, /G0\s+A1 vs random init\s+pass/);
    assert.match(check.text, /G3\s+h vs z\s+fail/);
    assert.match(check.text, /h beats z by more than 10/, "the paper's number beside ours");
    assert.match(check.text, /no l2, tau 10|D-nol2\s+no\s+10/);
    assert.match(check.text, /linear probe on z/);
  });

  test("bad input: a run without a checkpoint, a missing run", async () => {
    const empty = tmp("empty");
    writeFileSync(join(empty, "config.yaml"), readFileSync(join(run, "config.yaml")));
    const none = await runCli(["report", "--run", empty, "--out", join(tmp("r"), "x.html")]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /has no checkpoint/);
    const missing = await runCli(["report", "--run", join(empty, "nope"), "--out", join(tmp("r"), "x.html")]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /is not a run directory/);
    const usage = await runCli(["report", "--run", run, "--out", join(tmp("r"), "x.html"), "--bank", "0"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--bank must be an integer >= 1, got '0'/);
  });
});
