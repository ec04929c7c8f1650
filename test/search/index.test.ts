/** simclr index / search / duplicates: contents, incremental updates, refusals, exact against approximate. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import sharp from "sharp";
import { DataError, LockedError, evaluationConfig, rand, tensor, withSeed } from "../../src/index.js";
import { Searcher, indexImages, openEmbedder, readIndex } from "../../src/entry/search.js";
import { runCli, quiet } from "../helpers.js";
import { searchRun, tmp, writePngFolder } from "./fixture.js";

describe("simclr index", () => {
  let run = "";
  let data = "";
  before(async () => {
    ({ run, data } = await searchRun());
  });

  test("embeds every image (recursively), equal to the encoder's h of the decoded image, unit length", async () => {
    const root = await writePngFolder(data, 40);
    const out = join(tmp("index"), "photos.index");
    const r = await runCli(["index", "--run", run, "--images", root, "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as Record<string, number>;
    assert.equal(summary.files, 40);
    assert.equal(summary.embedded, 40);
    const index = readIndex(out);
    assert.equal(index.root, root);
    assert.deepEqual(index.embeddings.shape, [40, 32]);
    assert.ok(index.files.every((f) => /^class-\d\/\d{4}\.png$/.test(f.path)));
    const rows = index.embeddings.data() as Float32Array;
    for (let i = 0; i < 40; i++) {
      let n = 0;
      for (let j = 0; j < 32; j++) n += (rows[i * 32 + j] as number) ** 2;
      assert.ok(Math.abs(Math.sqrt(n) - 1) < 1e-5);
    }
    // row 7 is the run's encoder on that file, whatever the batch it was embedded in
    const { embedder, dispose } = openEmbedder(run, evaluationConfig(run));
    const one = await embedder.embedOne(join(root, index.files[7]!.path));
    for (let j = 0; j < 32; j++) assert.ok(Math.abs((one[j] as number) - (rows[7 * 32 + j] as number)) < 1e-5);
    dispose();
    index.embeddings.dispose();

    // search: the image itself first, at cosine 1; duplicates finds a copy
    const hit = await runCli(["search", "--index", out, "--query", join(root, index.files[7]!.path), "-k", "5"]);
    assert.equal(hit.code, 0, hit.stderr);
    const found = JSON.parse(hit.stdout) as { results: { id: number; score: number; path: string }[] };
    assert.equal(found.results.length, 5);
    assert.equal(found.results[0]!.path, index.files[7]!.path);
    assert.ok(found.results[0]!.score > 0.9999);
    for (let i = 1; i < 5; i++) assert.ok(found.results[i]!.score <= found.results[i - 1]!.score);
  });

  test("incremental: only new and changed files are embedded, deleted ones dropped, the rest kept bit for bit", async () => {
    const root = await writePngFolder(data, 30);
    const out = join(tmp("index"), "photos.index");
    const first = await indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    assert.deepEqual([first.files, first.embedded, first.reused, first.removed], [30, 30, 0, 0]);
    const before = readIndex(out);
    const oldRows = before.embeddings.data() as Float32Array;
    const rowOf = (path: string, files: { path: string }[], rows: Float32Array) =>
      rows.subarray(files.findIndex((f) => f.path === path) * 32, (files.findIndex((f) => f.path === path) + 1) * 32);

    const [a, b, c] = before.files.map((f) => f.path);
    copyFileSync(join(root, a!), join(root, "class-x-new.png")); // added
    // changed: another image's pixels under b's name, with a new mtime
    const other = before.files[20]!.path;
    copyFileSync(join(root, other), join(root, b!));
    utimesSync(join(root, b!), new Date(), new Date(Date.now() + 5000));
    rmSync(join(root, c!)); // deleted
    const second = await indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    assert.deepEqual([second.files, second.embedded, second.reused, second.removed], [30, 2, 28, 1]);
    const after = readIndex(out);
    const newRows = after.embeddings.data() as Float32Array;
    assert.ok(!after.files.some((f) => f.path === c));
    assert.deepEqual(rowOf(a!, after.files, newRows), rowOf(a!, before.files, oldRows)); // unchanged, reused
    assert.deepEqual(rowOf("class-x-new.png", after.files, newRows), rowOf(a!, before.files, oldRows)); // same pixels
    assert.deepEqual(rowOf(b!, after.files, newRows), rowOf(other, before.files, oldRows)); // re-embedded
    before.embeddings.dispose();
    after.embeddings.dispose();

    const third = await indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    assert.deepEqual([third.embedded, third.reused, third.removed], [0, 30, 0]);
  });

  test("unreadable files are skipped and reported; refusals: another model, another folder, no images, a corrupt index", async () => {
    const root = await writePngFolder(data, 12);
    writeFileSync(join(root, "class-0", "broken.png"), "not a png");
    const out = join(tmp("index"), "photos.index");
    const r = await indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    assert.equal(r.files, 12);
    assert.equal(r.skipped.length, 1);
    assert.match(r.skipped[0]!.file, /broken\.png$/);

    const other = await searchRun(["train.seed=7"]); // another pretraining: other weights
    await assert.rejects(
      indexImages(other.run, evaluationConfig(other.run), { images: root, out, progress: quiet() }),
      (e: unknown) => e instanceof DataError && /was made by another model/.test(e.message),
    );
    const elsewhere = await writePngFolder(data, 5);
    await assert.rejects(
      indexImages(run, evaluationConfig(run), { images: elsewhere, out, progress: quiet() }),
      (e: unknown) => e instanceof DataError && new RegExp(`indexes ${root}, not ${elsewhere}`).test(e.message),
    );
    const empty = tmp("empty");
    const none = await runCli(["index", "--run", run, "--images", empty, "--out", join(empty, "x.index")]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /has no images \(JPEG, PNG or WebP, searched recursively\)/);
    const bad = join(tmp("index"), "bad.index");
    writeFileSync(bad, readFileSync(out).subarray(0, 100));
    const corrupt = await runCli(["search", "--index", bad, "--query", join(root, "class-0", "broken.png")]);
    assert.equal(corrupt.code, 1);
    assert.match(corrupt.stderr, new RegExp(bad));
  });

  test("a crash while writing leaves the previous index readable (the write is a rename)", async () => {
    const root = await writePngFolder(data, 8);
    const out = join(tmp("index"), "photos.index");
    await indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    const bytes = readFileSync(out);
    // what a killed writer leaves: a temporary file beside the index, never a half-written index
    writeFileSync(`${out}.tmp-12345-abc`, bytes.subarray(0, bytes.length / 2));
    const index = readIndex(out);
    assert.equal(index.files.length, 8);
    index.embeddings.dispose();
    assert.ok(existsSync(out) && statSync(out).size === bytes.length);
    renameSync(`${out}.tmp-12345-abc`, join(tmp("trash"), "x"));
  });

  test("one writer per index: a second run into the same index at once is refused; a dead writer's lock and temporaries are cleaned", async () => {
    const root = await writePngFolder(data, 8);
    const other = await writePngFolder(data, 6);
    const out = join(tmp("index"), "photos.index");
    const first = indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    await assert.rejects(
      indexImages(run, evaluationConfig(run), { images: other, out, progress: quiet() }),
      (e: unknown) => e instanceof LockedError && e.code === "ERR_SIMCLR_LOCKED" && e.path === out,
    );
    assert.equal((await first).files, 8);
    const index = readIndex(out);
    assert.equal(index.root, root); // the first folder, not the second
    index.embeddings.dispose();
    assert.ok(!existsSync(`${out}.lock`), "the lock is released");

    // another live process holds it: the command refuses, naming the holder
    const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    try {
      writeFileSync(`${out}.lock`, JSON.stringify({ pid: holder.pid, host: hostname(), since: "2026-01-01T00:00:00.000Z" }));
      const refused = await runCli(["index", "--run", run, "--images", root, "--out", out]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, new RegExp(`${out} is in use by pid ${holder.pid} on this host`));
    } finally {
      holder.kill("SIGKILL");
    }
    // a writer that died: its lock and half-written temporary are cleaned by the next run
    writeFileSync(`${out}.lock`, JSON.stringify({ pid: 999_999_999, host: hostname(), since: "2026-01-01T00:00:00.000Z" }));
    writeFileSync(`${out}.tmp-999999999-abc`, "half an index");
    const again = await indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    assert.equal(again.reused, 8);
    assert.ok(!existsSync(`${out}.tmp-999999999-abc`) && !existsSync(`${out}.lock`));
  });

  test("a file name that is not UTF-8 is skipped and reported with its bytes escaped; the rest are indexed", async () => {
    const root = await writePngFolder(data, 6);
    const png = readFileSync(join(root, "class-0", readdirSync(join(root, "class-0"))[0]!));
    writeFileSync(Buffer.concat([Buffer.from(`${root}/class-0/caf`), Buffer.from([0xe9]), Buffer.from(".png")]), png);
    const out = join(tmp("index"), "photos.index");
    const r = await indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    assert.equal(r.files, 6);
    assert.deepEqual(
      r.skipped.map((s) => [s.file, /not valid UTF-8/.test(s.reason)]),
      [[join(root, "class-0", "caf\\xe9.png"), true]],
    );
  });

  test("HNSW against exact search: recall@10 on 3,000 clustered vectors", () => {
    const n = 3000;
    const d = 32;
    const vectors = withSeed(5, () => {
      const centres = rand([30, d]).sub(0.5); // (30, d)
      const assign = tensor(
        Array.from({ length: n }, (_, i) => i % 30),
        { dtype: "int64" },
      );
      const x = centres.indexSelect(0, assign).add(rand([n, d]).sub(0.5).mul(0.3)); // (n, d)
      return x.div(x.norm(2, 1, true));
    });
    const exact = new Searcher(vectors, { approximateFrom: Infinity });
    const approx = new Searcher(vectors, { approximateFrom: 1 });
    assert.ok(approx.approximate && !exact.approximate);
    const rows = vectors.data() as Float32Array;
    let overlap = 0;
    for (let q = 0; q < 200; q++) {
      const query = rows.subarray(q * 15 * d, (q * 15 + 1) * d);
      const truth = new Set(exact.search(query, 10).map((h) => h.id));
      overlap += approx.search(query, 10).filter((h) => truth.has(h.id)).length;
    }
    const recall = overlap / 2000;
    assert.ok(recall >= 0.95, `recall@10 ${recall}`);
    exact.dispose();
    approx.dispose();
    vectors.dispose();
  });

  test("a query that is not an image is a clear error", async () => {
    const root = await writePngFolder(data, 6);
    const out = join(tmp("index"), "photos.index");
    await indexImages(run, evaluationConfig(run), { images: root, out, progress: quiet() });
    const text = join(tmp("q"), "notes.txt");
    writeFileSync(text, "hello");
    const r = await runCli(["search", "--index", out, "--query", text]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /notes\.txt: cannot be read as an image/);
    const png = join(tmp("q"), "tiny.png");
    await sharp({ create: { width: 5, height: 9, channels: 3, background: "#808080" } })
      .png()
      .toFile(png);
    assert.equal((await runCli(["search", "--index", out, "--query", png, "-k", "3"])).code, 0);
  });
});
