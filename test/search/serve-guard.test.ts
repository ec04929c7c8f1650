/// <reference lib="dom" />
/**
 * simclr serve is safe by default, checked over real loopback connections: DNS-rebinding Host
 * headers and cross-site requests are refused (also from a real page on another origin in
 * Chromium), a non-loopback address needs an access token, stalled requests are cut off,
 * statuses are right, error bodies carry no absolute path, and a port in use is a clear error.
 */
import assert from "node:assert/strict";
import { createServer, request as httpRequest, type Server } from "node:http";
import { connect } from "node:net";
import { renameSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import puppeteer from "puppeteer-core";
import { ArgumentError, evaluationConfig } from "../../src/index.js";
import { indexImages } from "../../src/entry/search.js";
import { serve } from "../../src/entry/serve.js";
import { searchRun, tmp, writePngFolder } from "./fixture.js";
import { quiet, runCli } from "../helpers.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** A raw request with the headers exactly as given (fetch would set Host and refuse to forge it). */
function rawRequest(
  base: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: options.path, method: options.method ?? "GET", headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf-8") }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Resolves with how long the server took to close a connection that sends `first` and then stalls (trickling `drip`, if given). */
function stall(base: string, first: string, drip?: string): Promise<{ ms: number; reply: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let reply = "";
    const socket = connect(Number(url.port), url.hostname, () => socket.write(first));
    const timer = drip === undefined ? null : setInterval(() => socket.writable && socket.write(drip), 200);
    socket.on("data", (d) => (reply += d.toString("utf-8")));
    socket.on("close", () => {
      if (timer !== null) clearInterval(timer);
      resolve({ ms: performance.now() - t0, reply });
    });
    socket.on("error", () => undefined); // a reset is a close too
    setTimeout(() => {
      socket.destroy();
      reject(new Error("the server kept a stalled connection open for 20 s"));
    }, 20_000).unref();
  });
}

describe("simclr serve is safe by default", () => {
  let out = "";
  let root = "";
  let server: Awaited<ReturnType<typeof serve>>;
  let base = "";
  const logged: string[] = [];
  before(async () => {
    const { run, data } = await searchRun();
    root = await writePngFolder(data, 12);
    out = join(tmp("index"), "photos.index");
    await indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    server = await serve(out, { port: 0 }, { requestTimeoutMs: 1500, log: (l) => logged.push(l) });
    base = server.url;
  });
  after(async () => server?.close());

  test("a DNS-rebinding Host is refused with 403 JSON; the server's own names are served", async () => {
    const port = new URL(base).port;
    for (const path of ["/api/health", "/api/image/0", "/"]) {
      const r = await rawRequest(base, { path, headers: { host: "evil.example" } });
      assert.equal(r.status, 403, path);
      assert.match(JSON.parse(r.body).error as string, /Host 'evil\.example' is not a name of this server/);
      assert.doesNotMatch(r.body, new RegExp(root));
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "localhost"]) {
      assert.equal((await rawRequest(base, { path: "/api/health", headers: { host } })).status, 200, host);
    }
    assert.ok(logged.some((l) => /^403 GET \/api\/health .*evil\.example/.test(l)));
  });

  test("cross-site and cross-origin requests are refused; the page's own and a link to the page are not", async () => {
    const host = new URL(base).host;
    const json = JSON.stringify({ id: 0, k: 2 });
    const post = (headers: Record<string, string>) =>
      rawRequest(base, { method: "POST", path: "/api/search", headers: { host, "content-type": "application/json", ...headers }, body: json });
    assert.equal((await post({ origin: "http://evil.example", "sec-fetch-site": "cross-site" })).status, 403);
    assert.equal((await post({ origin: "http://evil.example" })).status, 403); // an old browser: Origin only
    assert.equal((await post({ "sec-fetch-site": "same-site" })).status, 403); // another port of this host
    assert.equal((await post({ origin: "null" })).status, 403); // a sandboxed frame or a file:// page
    assert.equal((await post({ origin: `http://${host}`, "sec-fetch-site": "same-origin" })).status, 200);
    assert.equal((await post({})).status, 200); // curl, scripts
    const image = await rawRequest(base, { path: "/api/image/0", headers: { host, "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" } });
    assert.equal(image.status, 403); // <img src> on another site
    const link = await rawRequest(base, { path: "/", headers: { host, "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" } });
    assert.equal(link.status, 200); // following a link to the page reads nothing
  });

  test("statuses: 413 for a big JSON body; a file deleted after indexing is 404 without its path or errno; health names no absolute path", async () => {
    const big = await fetch(`${base}/api/search`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: 0, pad: "x".repeat(5 * 2 ** 20) }),
    });
    assert.equal(big.status, 413);
    const health = await (await fetch(`${base}/api/health`)).text();
    assert.doesNotMatch(health, new RegExp(root));
    assert.doesNotMatch(health, /"\/(tmp|home|work|root)\//, "no absolute path at all (the checkpoint is named, not located)");
    const file = join(root, server.session.index.files[0]!.path);
    renameSync(file, `${file}.gone`);
    try {
      const r = await fetch(`${base}/api/image/0`);
      assert.equal(r.status, 404);
      const body = await r.text();
      assert.match(body, /image 0 is no longer readable/);
      assert.doesNotMatch(body, new RegExp(`ENOENT|${root}`));
      assert.ok(
        logged.some((l) => l.includes("ENOENT")),
        "the log keeps the details",
      );
    } finally {
      renameSync(`${file}.gone`, file);
    }
  });

  test("a stalled request is cut off within the request timeout: a slow body, and headers that trickle in", async () => {
    const host = new URL(base).host;
    const body = await stall(base, `POST /api/search HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"id":`);
    assert.ok(body.ms < 6000, `closed after ${body.ms.toFixed(0)} ms`);
    assert.match(body.reply, /^HTTP\/1\.1 408/);
    const headers = await stall(base, `GET /api/health HTTP/1.1\r\nHost: ${host}\r\n`, "X-Slow: 1\r\n");
    assert.ok(headers.ms < 6000, `closed after ${headers.ms.toFixed(0)} ms`);
    assert.equal((await fetch(`${base}/api/health`)).status, 200); // still serving
  });

  test("an access token: required by the API, taken from the header, the cookie the URL sets, and refused when wrong", async () => {
    const token = "t0ken-for-the-test-0123456789";
    const guarded = await serve(out, { port: 0 }, { token, log: () => undefined });
    try {
      const origin = new URL(guarded.url).origin;
      assert.equal(guarded.url, `${origin}/?token=${token}`);
      const none = await fetch(`${origin}/api/health`);
      assert.equal(none.status, 401);
      assert.match(((await none.json()) as { error: string }).error, /needs its access token/);
      assert.equal((await fetch(`${origin}/api/health`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      assert.equal((await fetch(`${origin}/api/health`, { headers: { authorization: `Bearer ${token}x` } })).status, 401);
      assert.equal((await fetch(`${origin}/`)).status, 200); // the static page itself
      const open = await fetch(guarded.url, { redirect: "manual" });
      assert.equal(open.status, 302);
      const cookie = open.headers.get("set-cookie") ?? "";
      assert.match(cookie, /HttpOnly; SameSite=Strict/);
      const withCookie = await fetch(`${origin}/api/image/0`, { headers: { cookie: cookie.split(";")[0]! } });
      assert.equal(withCookie.status, 200);
      assert.equal((await fetch(`${origin}/?token=wrong`, { redirect: "manual" })).status, 401);
    } finally {
      await guarded.close();
    }
  });

  test("a non-loopback address: a token is generated; an empty or short one is refused, in the library and the CLI", async () => {
    const open = await serve(out, { host: "0.0.0.0", port: 0 }, { log: () => undefined });
    try {
      assert.match(open.token ?? "", /^[0-9a-f]{48}$/);
      const port = new URL(open.url).port;
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/health`)).status, 401);
      assert.equal((await fetch(`http://127.0.0.1:${port}/api/health`, { headers: { authorization: `Bearer ${open.token}` } })).status, 200);
    } finally {
      await open.close();
    }
    await assert.rejects(
      serve(out, { host: "0.0.0.0", port: 0 }, { token: "" }),
      (e: unknown) => e instanceof ArgumentError && /needs an access token/.test(e.message),
    );
    await assert.rejects(serve(out, { host: "0.0.0.0", port: 0 }, { token: "short" }), /at least 16 characters, got 5/);
    const cli = await runCli(["serve", "--index", out, "--host", "0.0.0.0", "--port", "0", "--token", ""]);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /--token is empty/);
  });

  test("a port in use is a clear error naming it, not an internal error", async () => {
    const port = new URL(base).port;
    const r = await runCli(["serve", "--index", out, "--port", port]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`));
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  });

  test("a page on another origin, in Chromium, can neither search, read health, nor load an image", async () => {
    // the attacker's page: http://localhost:P (another site than 127.0.0.1), trying every way a page can reach the server
    const target = new URL(base).origin;
    const evil = `<!doctype html><body><script>
      window.outcome = {};
      const form = new FormData(); form.append("image", new Blob([new Uint8Array([137,80,78,71,13,10,26,10])], { type: "image/png" }), "q.png");
      Promise.all([
        fetch("${target}/api/search", { method: "POST", mode: "no-cors", body: form }).then(() => "sent", (e) => "failed " + e),
        fetch("${target}/api/health").then((r) => r.text(), (e) => "failed " + e),
        new Promise((done) => { const img = new Image(); img.onload = () => done("loaded " + img.naturalWidth); img.onerror = () => done("error"); img.src = "${target}/api/image/0"; }),
      ]).then(([search, health, image]) => { window.outcome = { search, health, image, done: true }; });
    </script></body>`;
    const attacker: Server = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(evil));
    await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
    const evilPort = (attacker.address() as { port: number }).port;
    const before = logged.length;
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://localhost:${evilPort}/`);
      await page.waitForFunction(() => (window as unknown as { outcome: { done?: boolean } }).outcome.done === true, { timeout: 15_000 });
      const outcome = (await page.evaluate(() => (window as unknown as { outcome: unknown }).outcome)) as Record<string, string>;
      assert.match(outcome.health!, /^failed/); // no CORS grant: the page cannot read it
      assert.equal(outcome.image, "error");
      const refused = logged.slice(before).filter((l) => l.startsWith("403 "));
      for (const path of ["POST /api/search", "GET /api/health", "GET /api/image/0"]) {
        assert.ok(
          refused.some((l) => l.startsWith(`403 ${path} `)),
          `the server refused ${path} (log: ${refused.join(" | ")})`,
        );
      }
    } finally {
      await browser.close();
      attacker.close();
    }
  });
});
