/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * simclr serve over a real loopback connection: the API, what it refuses (path traversal in
 * every spelling, links out of the folder, oversized and non-image uploads, malformed JSON)
 * without falling over, a bounded load test, and the page driven in headless Chromium.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import puppeteer, { type Browser, type ElementHandle } from "puppeteer-core";
import sharp from "sharp";
import { evaluationConfig } from "../../src/index.js";
import { indexImages } from "../../src/entry/search.js";
import { serve } from "../../src/entry/serve.js";
import { searchRun, tmp, writePngFolder } from "./fixture.js";
import { quiet } from "../helpers.js";

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "artifacts");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** A raw GET whose path is sent as written (fetch would normalise "../"). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method: "GET" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf-8") }));
    });
    req.on("error", reject);
    req.end();
  });
}

function upload(bytes: Buffer, name: string, type: string): FormData {
  const form = new FormData();
  form.append("image", new Blob([new Uint8Array(bytes)], { type }), name);
  return form;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

describe("simclr serve", () => {
  let server: Awaited<ReturnType<typeof serve>>;
  let root = "";
  let base = "";
  let files: string[] = [];
  let outside = "";
  before(async () => {
    const { run, data } = await searchRun();
    root = await writePngFolder(data, 48);
    // a link to an image outside the folder is not indexed (reported as skipped)
    outside = join(tmp("outside"), "secret.png");
    await sharp({ create: { width: 28, height: 28, channels: 3, background: "#ff0000" } })
      .png()
      .toFile(outside);
    symlinkSync(outside, join(root, "class-0", "zz-link-out.png"));
    const out = join(tmp("index"), "photos.index");
    const indexed = await indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    assert.deepEqual(
      indexed.skipped.map((s) => s.reason),
      ["links outside the indexed folder"],
    );
    server = await serve(out, { port: 0 }, { maxUploadBytes: 64 * 1024 });
    base = server.url;
    files = server.session.index.files.map((f) => f.path);
  });
  after(async () => server?.close());

  test("health, search by upload, neighbours, duplicates, map and images answer JSON over HTTP", async () => {
    const health = (await (await fetch(`${base}/api/health`)).json()) as { status: string; images: number };
    assert.deepEqual([health.status, health.images], ["ok", 48]);
    const id = files.findIndex((f) => f.startsWith("class-2/"));
    const bytes = readFileSync(join(root, files[id]!));
    const res = await fetch(`${base}/api/search?k=4`, { method: "POST", body: upload(bytes, "q.png", "image/png") });
    assert.equal(res.status, 200);
    const found = (await res.json()) as { results: { id: number; score: number; path: string; rank: number }[] };
    assert.equal(found.results.length, 4);
    assert.equal(found.results[0]!.id, id);
    assert.ok(found.results[0]!.score > 0.9999 && found.results[0]!.score <= 1);
    const byId = (await (
      await fetch(`${base}/api/search`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, k: 3 }) })
    ).json()) as { results: { id: number }[] };
    assert.equal(byId.results.length, 3);
    assert.ok(byId.results.every((r) => r.id !== id));
    const nb = (await (await fetch(`${base}/api/neighbors?id=${id}&k=3`)).json()) as { results: { id: number }[] };
    assert.deepEqual(
      nb.results.map((r) => r.id),
      byId.results.map((r) => r.id),
    );
    const dups = (await (await fetch(`${base}/api/duplicates?threshold=0.99999`)).json()) as { total: number };
    assert.ok(dups.total >= 0);
    const map = (await (await fetch(`${base}/api/map`)).json()) as { points: { x: number; y: number; label: string }[] };
    assert.equal(map.points.length, 48);
    assert.ok(map.points.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y)));
    const image = await fetch(`${base}/api/image/${id}`);
    assert.equal(image.status, 200);
    assert.equal(image.headers.get("content-type"), "image/png");
    assert.deepEqual(Buffer.from(await image.arrayBuffer()), bytes);
  });

  test("refused without a crash: traversal in every spelling, links out of the folder, bad ids, big and non-image uploads, malformed JSON", async () => {
    for (const path of [
      "/api/image/../../etc/passwd",
      "/api/image/..%2F..%2Fetc%2Fpasswd",
      "/api/image/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/api/image/%2Fetc%2Fpasswd",
      "/api/image//etc/passwd",
      "/api/image/-1",
      "/api/image/1.5",
      "/api/image/0x10",
      "/api/image/99999999",
      "/api/image/1e3",
    ]) {
      const r = await rawGet(base, path);
      assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
      assert.doesNotMatch(r.body, /root:/, path);
      assert.match(JSON.parse(r.body).error as string, /./, path);
    }
    // an indexed file replaced by a link out of the folder after indexing: refused
    const victim = join(root, files[0]!);
    renameSync(victim, `${victim}.bak`);
    symlinkSync(outside, victim);
    try {
      const link = await rawGet(base, "/api/image/0");
      assert.equal(link.status, 403);
      assert.match(link.body, /resolves outside the indexed folder/);
    } finally {
      rmSync(victim);
      renameSync(`${victim}.bak`, victim);
    }
    assert.equal((await rawGet(base, "/api/image/0")).status, 200);

    const big = await fetch(`${base}/api/search`, { method: "POST", body: upload(Buffer.alloc(100 * 1024, 1), "big.png", "image/png") });
    assert.equal(big.status, 413);
    const text = await fetch(`${base}/api/search`, { method: "POST", body: upload(Buffer.from("#!/bin/sh\necho hi\n"), "x.png", "image/png") });
    assert.equal(text.status, 415);
    assert.match(((await text.json()) as { error: string }).error, /not a JPEG, PNG or WebP/);
    const lying = await fetch(`${base}/api/search`, {
      method: "POST",
      body: upload(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64)]), "fake.png", "image/png"),
    });
    assert.equal(lying.status, 422); // PNG magic, undecodable body
    const noFile = await fetch(`${base}/api/search`, { method: "POST", body: new FormData() });
    assert.ok(noFile.status === 400 || noFile.status === 406, String(noFile.status));
    const malformed = await fetch(`${base}/api/search`, { method: "POST", headers: { "content-type": "application/json" }, body: "{bad json" });
    assert.equal(malformed.status, 400);
    assert.match(((await malformed.json()) as { error: string }).error, /JSON/);
    for (const body of [{ id: -1 }, { id: "3" + "0".repeat(20) }, { id: 1, k: 0 }, { id: 1, k: 100000 }, { k: 3 }]) {
      const r = await fetch(`${base}/api/search`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    assert.equal((await fetch(`${base}/api/neighbors?id=abc`)).status, 400);
    assert.equal((await fetch(`${base}/api/duplicates?threshold=2`)).status, 400);
    assert.equal((await fetch(`${base}/nothing-here`)).status, 404);
    // still serving
    assert.equal((await fetch(`${base}/api/health`)).status, 200);
  });

  test("bounded load on loopback: p50 and p99 latency and requests/s at 1 and 16 concurrent clients", async (t) => {
    const bytes = readFileSync(join(root, files[3]!));
    for (const [kind, make] of [
      ["neighbors", (i: number) => fetch(`${base}/api/neighbors?id=${i % 48}&k=10`)],
      ["upload search", () => fetch(`${base}/api/search?k=10`, { method: "POST", body: upload(bytes, "q.png", "image/png") })],
    ] as const) {
      for (const clients of [1, 16]) {
        const total = 160;
        const latencies: number[] = [];
        let next = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: clients }, async () => {
            while (next < total) {
              const i = next++;
              const t0 = performance.now();
              const r = await make(i);
              assert.equal(r.status, 200);
              await r.arrayBuffer();
              latencies.push(performance.now() - t0);
            }
          }),
        );
        const seconds = (performance.now() - started) / 1000;
        latencies.sort((a, b) => a - b);
        t.diagnostic(
          `${kind}, ${clients} client(s): p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, ${(total / seconds).toFixed(0)} requests/s`,
        );
        assert.equal(latencies.length, total);
      }
    }
  });

  test("the page embeds a dropped image in the browser (onnxruntime-web): no image bytes leave it, its embedding is the server's within 1e-4, the same results", async () => {
    const browser: Browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const sent: { url: string; method: string; type: string; body: Buffer }[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      await page.setRequestInterception(true);
      page.on("request", (r) => {
        const body = r.postData();
        sent.push({ url: r.url(), method: r.method(), type: r.headers()["content-type"] ?? "", body: Buffer.from(body ?? "", "latin1") });
        void r.continue();
      });
      await page.goto(`${base}/`, { waitUntil: "networkidle0" });
      await page.waitForFunction(() => /embedded in this browser/.test(document.getElementById("where")?.textContent ?? ""), { timeout: 60_000 });
      const where = await page.$eval("#where", (e) => e.textContent ?? "");
      const file = join(root, files[9]!);
      const bytes = readFileSync(file);
      const input = (await page.$("#file")) as ElementHandle<HTMLInputElement> | null;
      await input!.uploadFile(file);
      await page.waitForFunction(
        () => document.querySelectorAll("#results .card").length === 12 && /this browser/.test(document.getElementById("query-label")?.textContent ?? ""),
      );
      const query = (await page.evaluate(
        () => (window as unknown as { simclrLastQuery: { where: string; provider: string; ms: number; embedding: number[] } }).simclrLastQuery,
      ))!;
      assert.equal(query.where, "browser");
      // nothing sent carries the image: no upload, no request body holding its bytes
      const posts = sent.filter((r) => r.method !== "GET");
      assert.deepEqual(
        posts.map((r) => [new URL(r.url).pathname, r.type]),
        [["/api/search", "application/json"]],
      );
      for (const r of sent)
        assert.ok(!r.body.includes(bytes.subarray(0, 64)) && !r.body.includes(Buffer.from("\x89PNG", "latin1")), `${r.url} carries image bytes`);
      // the embedding is the server's own for the same file, and so are the results
      const onServer = await server.session.embedder.embedOne(bytes);
      let diff = 0;
      for (let i = 0; i < onServer.length; i++) diff = Math.max(diff, Math.abs(onServer[i]! - query.embedding[i]!));
      assert.equal(query.embedding.length, onServer.length);
      assert.ok(diff <= 1e-4, `browser and server embeddings differ by ${diff}`);
      const shown = await page.$$eval("#results .card", (cards) => cards.map((c) => Number((c as HTMLElement).dataset.id)));
      const uploaded = (await (await fetch(`${base}/api/search?k=12`, { method: "POST", body: upload(bytes, "q.png", "image/png") })).json()) as {
        results: { id: number }[];
      };
      assert.deepEqual(
        shown,
        uploaded.results.map((r) => r.id),
      );
      await page.screenshot({ path: join(mkdirOk(ARTIFACTS), "search-in-browser.png"), fullPage: true });
      // a non-square colour image takes the canvas resize path: it still searches, from the browser
      const odd = join(tmp("odd"), "odd.png");
      await sharp({ create: { width: 41, height: 29, channels: 3, background: "#808080" } })
        .png()
        .toFile(odd);
      sent.length = 0;
      await input!.uploadFile(odd);
      await page.waitForFunction(() => /odd\.png \(embedded in this browser/.test(document.getElementById("query-label")?.textContent ?? ""));
      assert.deepEqual(
        sent.filter((r) => r.method !== "GET").map((r) => r.type),
        ["application/json"],
      );
      const oddQuery = (await page.evaluate(() => (window as unknown as { simclrLastQuery: { embedding: number[] } }).simclrLastQuery))!;
      const oddServer = await server.session.embedder.embedOne(readFileSync(odd));
      let oddDiff = 0;
      for (let i = 0; i < oddServer.length; i++) oddDiff = Math.max(oddDiff, Math.abs(oddServer[i]! - oddQuery.embedding[i]!));
      assert.ok(oddDiff <= 1e-4, `a uniform gray image resizes to the same pixels: differs by ${oddDiff}`);
      assert.deepEqual(errors, [], errors.join("\n"));
      process.stderr.write(
        `# in-browser embedding: ${where.trim()} one 28x28 query in ${query.ms.toFixed(1)} ms (${query.provider}); max |diff| vs server ${diff.toExponential(2)}\n`,
      );
    } finally {
      await browser.close();
    }
  });

  test("the embedding route refuses what is not an embedding; the runtime route serves only the runtime's files", async () => {
    const post = async (body: unknown) => {
      const r = await fetch(`${base}/api/search`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: r.status, error: ((await r.json()) as { error?: string }).error ?? "" };
    };
    const dim = server.session.searcher.dim;
    assert.match((await post({ embedding: [1, 2] })).error, new RegExp(`embedding must be an array of ${dim} numbers .*got 2`));
    assert.match((await post({ embedding: Array(dim).fill(0) })).error, /all zeros/);
    assert.match((await post({ embedding: [...Array(dim - 1).fill(0.1), "x"] })).error, new RegExp(`embedding\\[${dim - 1}\\] must be a finite number`));
    const ok = (await (
      await fetch(`${base}/api/search`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ embedding: Array(dim).fill(0.3), k: 3 }),
      })
    ).json()) as { results: unknown[] };
    assert.equal(ok.results.length, 3);
    const health = (await (await fetch(`${base}/api/health`)).json()) as {
      browser: { runtime: string; model: string; side: number; channels: number; dim: number };
    };
    assert.deepEqual(health.browser, { runtime: "/ort/ort.webgpu.min.mjs", model: "/api/model.onnx", side: 28, channels: 1, dim });
    const runtime = await fetch(`${base}${health.browser.runtime}`);
    assert.equal(runtime.status, 200);
    assert.match(runtime.headers.get("content-type") ?? "", /javascript/);
    const model = await fetch(`${base}/api/model.onnx`);
    assert.equal(model.status, 200);
    assert.ok((await model.arrayBuffer()).byteLength > 10_000);
    for (const path of ["/ort/package.json", "/ort/..%2Fpackage.json", "/ort/ort.node.min.js"]) assert.equal((await rawGet(base, path)).status, 404, path);
  });

  test("the page in headless Chromium: upload, results, click-through, duplicates, map; offline, no console errors", async () => {
    const browser: Browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const foreign: string[] = [];
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("request", (r) => {
        const url = r.url();
        if (!url.startsWith(base) && !url.startsWith("blob:") && !url.startsWith("data:")) foreign.push(url);
      });
      await page.setViewport({ width: 1200, height: 900 });
      await page.goto(`${base}/`, { waitUntil: "networkidle0" });
      await page.waitForFunction(() => document.getElementById("meta")?.textContent?.includes("48 images"));
      const input = (await page.$("#file")) as ElementHandle<HTMLInputElement> | null;
      await input!.uploadFile(join(root, files[9]!));
      await page.waitForFunction(() => document.querySelectorAll("#results .card").length === 12);
      const first = await page.$eval("#results .card .path", (e) => e.textContent);
      assert.equal(first, files[9]);
      await page.waitForFunction(() =>
        [...document.querySelectorAll("#results img")].every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0),
      );
      // click the second result: the grid now holds its neighbours
      const second = await page.$eval("#results .card:nth-child(2)", (e) => (e as HTMLElement).dataset.id);
      await page.click("#results .card:nth-child(2)");
      await page.waitForFunction((id) => document.querySelector("#query img")?.getAttribute("src") === `/api/image/${id}`, {}, second);
      const ids = await page.$$eval("#results .card", (cards) => cards.map((c) => (c as HTMLElement).dataset.id));
      assert.equal(ids.length, 12);
      assert.ok(!ids.includes(second));
      await page.screenshot({ path: join(mkdirOk(ARTIFACTS), "search.png"), fullPage: true });
      await page.click("#tab-duplicates");
      await page.waitForFunction(() => /group\(s\) at cosine/.test(document.getElementById("dup-count")?.textContent ?? ""));
      await page.click("#tab-map");
      await page.waitForFunction(() => document.querySelectorAll("#map-svg circle").length === 48);
      await page.screenshot({ path: join(ARTIFACTS, "search-map.png"), fullPage: true });
      await page.click("#map-svg circle");
      await page.waitForFunction(
        () => !document.getElementById("search")!.classList.contains("hidden") && document.querySelectorAll("#results .card").length === 12,
      );
      assert.deepEqual(errors, [], errors.join("\n"));
      assert.deepEqual(foreign, []);
    } finally {
      await browser.close();
    }
  });
});

function mkdirOk(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, ".keep"), "");
  return dir;
}
