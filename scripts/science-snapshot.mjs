#!/usr/bin/env node
// Copies an ablation study's record into docs/science/<name>/ for docs/science.md: its plan.yaml
// and summary.json (not the checkpoints), the report page's tables as Markdown (tables.md), and a
// screenshot of the page in Debian's headless Chromium (report.png). Run it after (or during) a
// study: node scripts/science-snapshot.mjs runs/ablate-pilot pilot
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const [study, name] = process.argv.slice(2);
if (!study || !name) {
  process.stderr.write("usage: node scripts/science-snapshot.mjs STUDY_DIR NAME   (writes docs/science/NAME/)\n");
  process.exit(2);
}
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { ablationReport } = await import(join(root, "dist", "src", "entry", "report.js"));
const out = join(root, "docs", "science", name);
mkdirSync(out, { recursive: true });
for (const file of ["plan.yaml", "summary.json"]) copyFileSync(join(study, file), join(out, file));
const page = join(mkdtempSync(join(tmpdir(), "simclr-science-")), "report.html");
const result = await ablationReport(study, { out: page, markdown: join(out, "tables.md") });
const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
try {
  const tab = await browser.newPage();
  await tab.setViewport({ width: 1200, height: 900 });
  await tab.goto(`file://${page}`, { waitUntil: "load" });
  await tab.screenshot({ path: join(out, "report.png"), fullPage: true });
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify({ out, gates: result.gates, charts: result.charts })}\n`);
