/**
 * How long the search page takes to embed a query in the browser (onnxruntime-web in headless
 * Chromium: WebGPU where it has it, else WebAssembly), against the server embedding an upload,
 * for each backbone at random initialisation (the cost does not depend on the weights).
 * Prints one JSON line: per backbone the provider, the median ms of the in-browser forward
 * (window.simclrLastQuery.ms, the session.run alone), and the median ms of a whole search round
 * trip each way (drop to results, as the page's user waits for it).
 *   node dist/bench/browser-embed.js [--archs resnet18,mobilenet_v3_small] [--size 32] [--queries 15]
 * Needs Debian's chromium (CHROMIUM=/path to use another).
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import puppeteer, { type ElementHandle } from "puppeteer-core";
import sharp from "sharp";
import { buildEncoder, loadConfig, manualSeed, writeSafetensors, type EncoderArch } from "../src/index.js";
import { importWeights } from "../src/jobs/import.js";
import { indexImages } from "../src/entry/search.js";
import { serve } from "../src/entry/serve.js";
import { ProgressReporter } from "../src/io/progress.js";
import { median } from "./python.js";

const { values } = parseArgs({
  options: {
    archs: { type: "string", default: "resnet18,mobilenet_v3_small" },
    size: { type: "string", default: "32" },
    queries: { type: "string", default: "15" },
  },
});
const side = Number(values.size);
const queries = Number(values.queries);
const work = mkdtempSync(join(tmpdir(), "simclr-browser-bench-"));
const photos = join(work, "photos");
mkdirSync(join(photos, "a"), { recursive: true });
for (let i = 0; i < 64; i++) {
  const raw = Buffer.alloc(side * side * 3).map((_, j) => (j * 31 + i * 17) % 256);
  await sharp(raw, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toFile(join(photos, "a", `${String(i).padStart(3, "0")}.png`));
}
const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
const rows = [];
try {
  for (const arch of values.archs.split(",") as EncoderArch[]) {
    manualSeed(0);
    const set = [`model.arch=${arch}`, "data.name=image-folder", `data.path=${photos}`, `data.size=${side}`, "data.channels=3"];
    const config = loadConfig({ set: arch.startsWith("resnet") ? [...set, "model.width=16"] : set });
    const weights = join(work, `${arch}.safetensors`);
    const encoder = buildEncoder({ arch, inChannels: 3, cifarStem: true, ...(arch.startsWith("resnet") ? { width: 16 } : {}) });
    writeSafetensors(weights, Object.fromEntries(encoder.stateDict()));
    encoder.dispose();
    const run = join(work, `run-${arch}`);
    importWeights(run, config, { file: weights });
    const index = join(work, `${arch}.index`);
    await indexImages(run, config, { images: photos, out: index, progress: ProgressReporter.silent() });
    const server = await serve(index, { port: 0 });
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/`, { waitUntil: "networkidle0" });
      await page.waitForFunction(() => /embedded in this browser/.test(document.getElementById("where")?.textContent ?? ""), { timeout: 120_000 });
      const input = (await page.$("#file")) as ElementHandle<HTMLInputElement>;
      const timed = async (inBrowser: boolean) => {
        await page.evaluate((on) => ((document.getElementById("in-browser") as HTMLInputElement).checked = on), inBrowser);
        const forward: number[] = [];
        const total: number[] = [];
        for (let q = 0; q <= queries; q++) {
          const file = join(photos, "a", `${String(q % 64).padStart(3, "0")}.png`);
          const t0 = performance.now();
          await page.evaluate(() => document.getElementById("results")!.replaceChildren());
          await input.uploadFile(file);
          await page.waitForFunction(() => document.querySelectorAll("#results .card").length > 0);
          const ms = performance.now() - t0;
          const last = (await page.evaluate(() => (window as unknown as { simclrLastQuery: { ms?: number; provider?: string } }).simclrLastQuery))!;
          if (q === 0) continue; // warm-up
          total.push(ms);
          if (last.ms !== undefined) forward.push(last.ms);
        }
        return { forward, total };
      };
      const here = await timed(true);
      const provider = await page.evaluate(() => (window as unknown as { simclrLastQuery: { provider?: string } }).simclrLastQuery.provider ?? null);
      const there = await timed(false);
      rows.push({
        arch,
        provider: provider ?? (await page.$eval("#where", (e) => e.textContent)),
        browser_forward_ms: Number(median(here.forward).toFixed(1)),
        browser_round_trip_ms: Number(median(here.total).toFixed(1)),
        server_round_trip_ms: Number(median(there.total).toFixed(1)),
      });
      await page.close();
    } finally {
      await server.close();
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ bench: "browser-embed", config: { side, channels: 3, queries, chromium: await browserVersion() }, rows }));

async function browserVersion(): Promise<string> {
  const b = await puppeteer.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
  const v = await b.version();
  await b.close();
  return v;
}
