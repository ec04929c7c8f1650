import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { defaultCacheDir, loadImageFolder, type ImageFolder } from "../../src/data/image-folder.js";
import { ArgumentError } from "../../src/errors.js";
import { DataError } from "../../src/errors.js";

type RGB = [number, number, number];
const RED: RGB = [255, 0, 0];
const GREEN: RGB = [0, 255, 0];
const BLUE: RGB = [0, 0, 255];

/** Writes a solid-colour image; the format follows the extension (png, jpg or webp). */
async function solid(file: string, colour: RGB, width: number, height: number, alpha = false): Promise<void> {
  const channels = alpha ? 4 : 3;
  const raw = Buffer.alloc(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    raw.set(alpha ? [...colour, 128] : colour, p * channels);
  }
  await sharp(raw, { raw: { width, height, channels } }).toFile(file);
}

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `simclr-imgfolder-${prefix}-`));
}

/**
 * root/blue/x.png (with alpha), root/green/{a.png, B.JPG, c.webp}, root/red/{a.jpg, b.png},
 * plus files that are not images. Sizes differ so every image is resized.
 */
async function labeledTree(): Promise<string> {
  const root = tempDir("labeled");
  for (const c of ["red", "green", "blue"]) mkdirSync(join(root, c));
  await solid(join(root, "blue", "x.png"), BLUE, 20, 12, true);
  await solid(join(root, "green", "a.png"), GREEN, 9, 9);
  await solid(join(root, "green", "B.JPG"), GREEN, 30, 40);
  await solid(join(root, "green", "c.webp"), GREEN, 16, 16);
  await solid(join(root, "red", "a.jpg"), RED, 64, 48);
  await solid(join(root, "red", "b.png"), RED, 8, 8);
  writeFileSync(join(root, "red", "notes.txt"), "not an image");
  writeFileSync(join(root, "green", "._a.png"), "macOS resource fork, not an image");
  writeFileSync(join(root, "README.md"), "top-level non-image files are ignored");
  return root;
}

/** Pixel (c, y, x) of image i of a (N, C, H, W) uint8 result. */
function pixel(ds: ImageFolder, i: number, c: number, y: number, x: number): number {
  const [, C, H, W] = ds.images.shape as [number, number, number, number];
  return ds.images.data()[((i * C + c) * H + y) * W + x] as number;
}

/** max |pixel - colour| over the whole image i. */
function maxColourError(ds: ImageFolder, i: number, colour: RGB): number {
  const [, C, H, W] = ds.images.shape as [number, number, number, number];
  let err = 0;
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) err = Math.max(err, Math.abs(pixel(ds, i, c, y, x) - colour[c]!));
  return err;
}

function imageFolderError(pattern: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof DataError && pattern.test(e.message);
}

describe("image folders", () => {
  test("class sub-folders: sorted classes, interleaved order, CHW sRGB pixels", async () => {
    const root = await labeledTree();
    const progress: [number, number][] = [];
    const ds = await loadImageFolder({ path: root, size: 8, cacheDir: null, onProgress: (d, t) => progress.push([d, t]) });
    assert.deepEqual(ds.classes, ["blue", "green", "red"]);
    assert.equal(ds.labeled, true);
    assert.equal(ds.fromCache, false);
    assert.deepEqual(ds.skipped, []);
    // Sorted within each class (code points: "B.JPG" < "a.png"), then round-robin.
    assert.deepEqual(
      ds.files.map((f) => f.slice(root.length + 1)),
      ["blue/x.png", "green/B.JPG", "red/a.jpg", "green/a.png", "red/b.png", "green/c.webp"],
    );
    assert.deepEqual(ds.labels.toArray(), [0, 1, 2, 1, 2, 1]);
    assert.equal(ds.labels.dtype, "int64");
    assert.deepEqual(ds.images.shape, [6, 3, 8, 8]);
    assert.equal(ds.images.dtype, "uint8");
    const colours = [BLUE, GREEN, RED];
    (ds.labels.toArray() as number[]).forEach((label, i) => {
      // Lossy JPEG/WebP shift solid colours by a few levels; a channel mix-up would be off by 255.
      assert.ok(maxColourError(ds, i, colours[label]!) <= 12, `${ds.files[i]}: ${maxColourError(ds, i, colours[label]!)}`);
    });
    assert.deepEqual(progress.at(-1), [6, 6]);
    assert.equal(progress.length, 6);
  });

  test("limit keeps the first N of the interleaved order, so classes stay balanced", async () => {
    const root = await labeledTree();
    const ds = await loadImageFolder({ path: root, size: 4, limit: 4, cacheDir: null });
    assert.deepEqual(ds.labels.toArray(), [0, 1, 2, 1]);
    assert.deepEqual(ds.images.shape, [4, 3, 4, 4]);
    assert.deepEqual(
      ds.files.map((f) => basename(f)),
      ["x.png", "B.JPG", "a.jpg", "a.png"],
    );
  });

  test("channels 1: grayscale by luminance", async () => {
    const root = await labeledTree();
    const ds = await loadImageFolder({ path: root, size: 5, channels: 1, limit: 3, cacheDir: null });
    assert.deepEqual(ds.images.shape, [3, 1, 5, 5]);
    const [blue, green, red] = [0, 1, 2].map((i) => pixel(ds, i, 0, 2, 2)) as [number, number, number];
    assert.ok(green > red && red > blue && blue > 0, `green ${green} > red ${red} > blue ${blue}`);
    for (let i = 0; i < 3; i++) {
      const values = Array.from({ length: 25 }, (_, p) => pixel(ds, i, 0, Math.floor(p / 5), p % 5));
      assert.ok(Math.max(...values) - Math.min(...values) <= 6, `image ${i} is not uniform: ${values}`);
    }
  });

  test("the shorter side is scaled and the centre cropped (not squashed)", async () => {
    const root = tempDir("crop");
    mkdirSync(join(root, "stripes"));
    // 60x20: black columns 0..9 and 50..59, white in between. Scaled to 30x10 and centre
    // cropped to 10x10, only white remains; squashing would put black at the edges.
    const [w, h] = [60, 20];
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 10; x < 50; x++) raw.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
    await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toFile(join(root, "stripes", "s.png"));
    const ds = await loadImageFolder({ path: root, size: 10, cacheDir: null });
    assert.ok(maxColourError(ds, 0, [255, 255, 255]) <= 2, `max error ${maxColourError(ds, 0, [255, 255, 255])}`);
  });

  test("a flat folder of images is unlabeled", async () => {
    const root = tempDir("flat");
    await solid(join(root, "b.png"), RED, 10, 10);
    await solid(join(root, "a.jpeg"), GREEN, 12, 10);
    mkdirSync(join(root, "empty-subfolder"));
    writeFileSync(join(root, "list.csv"), "x");
    const ds = await loadImageFolder({ path: root, size: 6, cacheDir: null });
    assert.equal(ds.labeled, false);
    assert.deepEqual(ds.classes, []);
    assert.deepEqual(ds.labels.toArray(), [-1, -1]);
    assert.deepEqual(
      ds.files.map((f) => basename(f)),
      ["a.jpeg", "b.png"],
    );
    assert.deepEqual(ds.images.shape, [2, 3, 6, 6]);
    assert.ok(maxColourError(ds, 0, GREEN) <= 12);
    assert.ok(maxColourError(ds, 1, RED) <= 2);
  });

  test("layout errors name the folder", async () => {
    const empty = tempDir("empty");
    writeFileSync(join(empty, "notes.txt"), "x");
    await assert.rejects(loadImageFolder({ path: empty, size: 4, cacheDir: null }), imageFolderError(new RegExp(`^${empty}: no images found`)));
    await assert.rejects(loadImageFolder({ path: join(empty, "missing"), size: 4, cacheDir: null }), imageFolderError(/missing: cannot read/));

    const both = tempDir("both");
    mkdirSync(join(both, "cat"));
    await solid(join(both, "cat", "1.png"), RED, 4, 4);
    await solid(join(both, "loose.png"), RED, 4, 4);
    await assert.rejects(
      loadImageFolder({ path: both, size: 4, cacheDir: null }),
      imageFolderError(new RegExp(`^${both}: holds both images \\(e.g. loose.png\\) and class sub-folders of images \\(e.g. cat/\\)`)),
    );

    const emptyClass = tempDir("emptyclass");
    mkdirSync(join(emptyClass, "cat"));
    mkdirSync(join(emptyClass, "dog"));
    await solid(join(emptyClass, "cat", "1.png"), RED, 4, 4);
    await assert.rejects(loadImageFolder({ path: emptyClass, size: 4, cacheDir: null }), imageFolderError(/class folders with no images: dog/));

    await assert.rejects(loadImageFolder({ path: emptyClass, size: 0, cacheDir: null }), ArgumentError);
  });

  test("a file that does not decode: an error naming it, or skipped with skipBad", async () => {
    const root = await labeledTree();
    const bad = join(root, "red", "broken.png");
    writeFileSync(bad, "this is not a PNG");
    const truncated = join(root, "green", "truncated.jpg");
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#808080" } })
      .jpeg()
      .toBuffer();
    writeFileSync(truncated, jpeg.subarray(0, 100));
    await assert.rejects(loadImageFolder({ path: root, size: 4, cacheDir: null }), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.match(e.message, /2 of 8 images could not be decoded \(set data\.skipBad to skip them/);
      assert.match(e.message, new RegExp(`\\n  ${bad}: .+`));
      assert.match(e.message, new RegExp(`\\n  ${truncated}: .+`));
      return true;
    });
    const ds = await loadImageFolder({ path: root, size: 4, skipBad: true, cacheDir: null });
    assert.deepEqual(ds.images.shape, [6, 3, 4, 4]);
    assert.deepEqual(ds.labels.toArray(), [0, 1, 2, 1, 2, 1]);
    assert.deepEqual(ds.skipped.map((s) => s.file).sort(), [truncated, bad].sort());
    assert.ok(ds.skipped.every((s) => s.reason.length > 0));
    assert.ok(!ds.files.includes(bad));
  });

  test("skip reasons belong to their own file when many broken JPEGs, PNGs and WebPs decode at once", async () => {
    // libvips has one error buffer per process: decoded together, a PNG used to get a JPEG's message
    const root = tempDir("crossed");
    const raw = Buffer.alloc(64 * 64 * 3, 0).map((_, i) => (i * 37) % 251);
    const image = sharp(raw, { raw: { width: 64, height: 64, channels: 3 } });
    const encoded = { jpg: await image.clone().jpeg().toBuffer(), png: await image.clone().png().toBuffer(), webp: await image.clone().webp().toBuffer() };
    for (let i = 0; i < 30; i++) {
      for (const [ext, bytes] of Object.entries(encoded))
        writeFileSync(join(root, `${String(i).padStart(2, "0")}-broken.${ext}`), bytes.subarray(0, bytes.length / 2));
    }
    await solid(join(root, "good.png"), RED, 8, 8);
    const ds = await loadImageFolder({ path: root, size: 8, skipBad: true, cacheDir: null });
    assert.equal(ds.images.size(0), 1);
    assert.equal(ds.skipped.length, 90);
    const foreign: Record<string, RegExp> = { jpg: /png|webp/i, png: /jpe?g|webp/i, webp: /jpe?g|png/i };
    const crossed = ds.skipped.filter((s) => foreign[s.file.split(".").pop()!]!.test(s.reason));
    assert.deepEqual(crossed, [], "a reason names another format");
  });

  test("the EXIF orientation is applied: a photo stored sideways decodes upright, as a browser shows it", async () => {
    const root = tempDir("exif");
    // stored 40x20: left half red, right half blue; orientation 6 means "rotate 90 degrees clockwise to view",
    // so upright it is 20x40 with red on top and blue below
    const raw = Buffer.alloc(40 * 20 * 3);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) raw.set(x < 20 ? RED : BLUE, (y * 40 + x) * 3);
    await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } })
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 100 })
      .toFile(join(root, "sideways.jpg"));
    const ds = await loadImageFolder({ path: root, size: 8, cacheDir: null });
    const px = ds.images.data() as Uint8Array; // (1, 3, 8, 8)
    const at = (c: number, y: number, x: number) => px[c * 64 + y * 8 + x]!;
    assert.ok(at(0, 0, 7) > 200 && at(2, 0, 7) < 60, `top right is red (upright), got rgb ${at(0, 0, 7)},${at(1, 0, 7)},${at(2, 0, 7)}`);
    assert.ok(at(2, 7, 0) > 200 && at(0, 7, 0) < 60, `bottom left is blue, got rgb ${at(0, 7, 0)},${at(1, 7, 0)},${at(2, 7, 0)}`);
  });

  test("an image whose name is not UTF-8 is a bad file: named with its bytes escaped, or skipped with skipBad", async () => {
    const root = tempDir("latin1");
    await solid(join(root, "a.png"), RED, 8, 8);
    await solid(join(root, "b.png"), GREEN, 8, 8);
    writeFileSync(Buffer.concat([Buffer.from(`${root}/caf`), Buffer.from([0xe9]), Buffer.from(".png")]), readFileSync(join(root, "a.png")));
    const shown = join(root, "caf\\xe9.png");
    await assert.rejects(loadImageFolder({ path: root, size: 4, cacheDir: null }), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.match(e.message, /1 of 3 images could not be decoded/);
      assert.ok(e.message.includes(`${shown}: its name is not valid UTF-8`), e.message);
      return true;
    });
    const ds = await loadImageFolder({ path: root, size: 4, skipBad: true, cacheDir: null });
    assert.equal(ds.images.size(0), 2);
    assert.deepEqual(
      ds.skipped.map((s) => s.file),
      [shown],
    );
  });

  test("many bad files: the first 20 are listed, then a count", async () => {
    const root = tempDir("manybad");
    for (let i = 0; i < 25; i++) writeFileSync(join(root, `bad${String(i).padStart(2, "0")}.png`), "x");
    await assert.rejects(loadImageFolder({ path: root, size: 4, cacheDir: null }), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.match(e.message, /25 of 25 images could not be decoded/);
      assert.match(e.message, /bad19.png/);
      assert.doesNotMatch(e.message, /bad20.png/);
      assert.match(e.message, /\n {2}and 5 more$/);
      return true;
    });
  });

  test("the cache: reused for the same inputs, redone when a file or option changes, corrupt files ignored", async () => {
    const root = await labeledTree();
    const cacheDir = join(tempDir("cache"), "nested", "cache");
    const first = await loadImageFolder({ path: root, size: 8, cacheDir });
    assert.equal(first.fromCache, false);
    const cacheFiles = readdirSync(cacheDir).sort();
    assert.equal(cacheFiles.length, 2);
    assert.match(cacheFiles[0] as string, /^image-folder-[0-9a-f]{64}\.json$/);
    assert.equal(cacheFiles[1], (cacheFiles[0] as string).replace(/json$/, "u8"));
    assert.equal(statSync(join(cacheDir, cacheFiles[1] as string)).size, 6 * 3 * 8 * 8, "raw pixels, nothing else");
    const inMemory = await loadImageFolder({ path: root, size: 8, cacheDir: null });
    assert.deepEqual([...first.images.data()], [...inMemory.images.data()], "the mapped pixels are the decoded ones");
    assert.deepEqual(first.labels.toArray(), inMemory.labels.toArray());

    let progressCalls = 0;
    const second = await loadImageFolder({ path: root, size: 8, cacheDir, onProgress: () => progressCalls++ });
    assert.equal(second.fromCache, true);
    assert.equal(progressCalls, 0);
    assert.deepEqual(second.images.shape, first.images.shape);
    assert.deepEqual([...second.images.data()], [...first.images.data()]);
    assert.deepEqual(second.labels.toArray(), first.labels.toArray());
    assert.deepEqual(second.classes, first.classes);
    assert.deepEqual(second.files, first.files);
    assert.equal(second.labeled, true);

    // Other options are other cache entries.
    assert.equal((await loadImageFolder({ path: root, size: 8, channels: 1, cacheDir })).fromCache, false);
    assert.equal((await loadImageFolder({ path: root, size: 8, limit: 3, cacheDir })).fromCache, false);
    assert.equal((await loadImageFolder({ path: root, size: 8, limit: 3, cacheDir })).fromCache, true);

    // A changed file (new contents and mtime) misses the cache.
    await solid(join(root, "red", "b.png"), BLUE, 8, 8);
    utimesSync(join(root, "red", "b.png"), new Date(), new Date(Date.now() + 5000));
    const third = await loadImageFolder({ path: root, size: 8, cacheDir });
    assert.equal(third.fromCache, false);
    assert.ok(maxColourError(third, 4, BLUE) <= 2, "the new pixels were decoded");
    const thirdPixels = [...third.images.data()];
    third.images.dispose(); // its file is truncated below, under the mapping
    assert.equal((await loadImageFolder({ path: root, size: 8, cacheDir })).fromCache, true);

    // A pixel file of the wrong size (truncated, or another entry's) is a miss.
    const pixelsFile = join(cacheDir, cacheFiles[1] as string);
    truncateSync(pixelsFile, 100);
    assert.equal((await loadImageFolder({ path: root, size: 8, cacheDir })).fromCache, true, "another entry, untouched");
    const limited = readdirSync(cacheDir).filter((f) => f.endsWith(".u8"));
    for (const f of limited) truncateSync(join(cacheDir, f), 100);
    assert.equal((await loadImageFolder({ path: root, size: 8, cacheDir })).fromCache, false);

    // Corrupt cache files are decoded over, not fatal.
    for (const f of readdirSync(cacheDir)) writeFileSync(join(cacheDir, f), "garbage");
    const fourth = await loadImageFolder({ path: root, size: 8, cacheDir });
    assert.equal(fourth.fromCache, false);
    assert.deepEqual([...fourth.images.data()], thirdPixels);
    assert.equal((await loadImageFolder({ path: root, size: 8, cacheDir })).fromCache, true);
  });

  test("the cache keeps skipped files and unlabeled folders", async () => {
    const root = tempDir("cache-flat");
    await solid(join(root, "a.png"), RED, 5, 5);
    writeFileSync(join(root, "b.png"), "broken");
    const cacheDir = tempDir("cache2");
    const first = await loadImageFolder({ path: root, size: 4, skipBad: true, cacheDir });
    const second = await loadImageFolder({ path: root, size: 4, skipBad: true, cacheDir });
    assert.equal(second.fromCache, true);
    assert.equal(second.labeled, false);
    assert.deepEqual(second.classes, []);
    assert.deepEqual(second.labels.toArray(), [-1]);
    assert.deepEqual(second.skipped, first.skipped);
    assert.equal(second.skipped[0]?.file, join(root, "b.png"));
  });

  test("skipped files in the middle: the cached pixels close up over them, as the in-memory decode does", async () => {
    const root = tempDir("cache-gaps");
    const colours: RGB[] = [RED, GREEN, BLUE, [10, 200, 30], [250, 250, 0], [0, 90, 180]];
    for (let i = 0; i < 9; i++) {
      if (i % 3 === 1) writeFileSync(join(root, `img${i}.png`), "broken");
      else await solid(join(root, `img${i}.png`), colours[Math.floor(i / 1.5)] as RGB, 7 + i, 9);
    }
    const cacheDir = tempDir("cache-gaps-dir");
    const cached = await loadImageFolder({ path: root, size: 5, skipBad: true, cacheDir });
    const inMemory = await loadImageFolder({ path: root, size: 5, skipBad: true, cacheDir: null });
    assert.deepEqual(cached.images.shape, [6, 3, 5, 5]);
    assert.deepEqual([...cached.images.data()], [...inMemory.images.data()]);
    assert.deepEqual(cached.files, inMemory.files);
    assert.deepEqual(
      cached.skipped.map((s) => basename(s.file)),
      ["img1.png", "img4.png", "img7.png"],
    );
    const again = await loadImageFolder({ path: root, size: 5, skipBad: true, cacheDir });
    assert.equal(again.fromCache, true);
    assert.deepEqual([...again.images.data()], [...inMemory.images.data()]);
    const pixelFiles = readdirSync(cacheDir).filter((f) => f.endsWith(".u8"));
    assert.equal(statSync(join(cacheDir, pixelFiles[0] as string)).size, 6 * 3 * 5 * 5);
    assert.deepEqual(
      readdirSync(cacheDir).filter((f) => f.includes(".tmp-")),
      [],
      "no temporary file left",
    );
  });

  test("bad images without skipBad leave no cache entry; an unwritable cache folder decodes into memory with a warning", async () => {
    const root = tempDir("cache-bad");
    await solid(join(root, "a.png"), RED, 5, 5);
    writeFileSync(join(root, "b.png"), "broken");
    const cacheDir = tempDir("cache-bad-dir");
    await assert.rejects(loadImageFolder({ path: root, size: 4, cacheDir }), DataError);
    assert.deepEqual(readdirSync(cacheDir), []);

    const blocked = join(tempDir("cache-blocked"), "file");
    writeFileSync(blocked, "a file where the cache folder should be");
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      const ds = await loadImageFolder({ path: root, size: 4, skipBad: true, cacheDir: join(blocked, "cache") });
      assert.deepEqual(ds.images.shape, [1, 3, 4, 4]);
      assert.ok(maxColourError(ds, 0, RED) <= 2);
      await new Promise((r) => setImmediate(r));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] as string, /image folder cache not written to .*file\/cache: .*decoding into memory instead/);
    } finally {
      process.off("warning", onWarning);
    }
  });

  test("an aborted load stops decoding at once, rejects with the signal's reason and leaves no cache entry; a waiter stops waiting", async () => {
    const root = tempDir("abort");
    for (let i = 0; i < 300; i++) await solid(join(root, `${String(i).padStart(3, "0")}.png`), [i % 256, 0, 0], 6, 6);
    const reason = new Error("stop now");
    for (const cacheDir of [tempDir("abort-cache"), null]) {
      const controller = new AbortController();
      let done = 0;
      const onProgress = (d: number) => {
        done = Math.max(done, d);
        if (d === 1) controller.abort(reason);
      };
      await assert.rejects(loadImageFolder({ path: root, size: 4, cacheDir, onProgress, signal: controller.signal }), (e) => e === reason);
      // the files already decoding finish (at most DECODE_CONCURRENCY = 32); none starts after the abort
      assert.ok(done <= 33, `${done} of 300 files decoded after the abort at the first`);
      if (cacheDir !== null) assert.deepEqual(readdirSync(cacheDir), [], "no entry, no temporary, no lock");
    }
    // an already aborted signal: nothing decodes
    let any = 0;
    await assert.rejects(
      loadImageFolder({ path: root, size: 4, cacheDir: null, onProgress: () => any++, signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
    assert.equal(any, 0);
    // a process waiting on another's build stops waiting when aborted
    const cacheDir = tempDir("abort-wait");
    const first = loadImageFolder({ path: root, size: 4, cacheDir });
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 5);
    const waiter = loadImageFolder({ path: root, size: 4, cacheDir, signal: controller.signal });
    const [a, b] = await Promise.allSettled([first, waiter]);
    assert.equal(a.status, "fulfilled");
    if (b.status === "fulfilled") assert.ok(b.value.fromCache, "finished before the abort: then it read the entry");
    else assert.equal(b.reason, reason);
  });

  test("two loads of one folder at once build the cache once: the second waits for the first's entry", { timeout: 30_000 }, async () => {
    const root = await labeledTree();
    const cacheDir = tempDir("cache-once");
    const [a, b] = await Promise.all([loadImageFolder({ path: root, size: 6, cacheDir }), loadImageFolder({ path: root, size: 6, cacheDir })]);
    assert.deepEqual([a.fromCache, b.fromCache], [false, true], "without the build lock both decode");
    assert.deepEqual(Array.from(b.images.dataAsNumbers()), Array.from(a.images.dataAsNumbers()));
    assert.deepEqual(
      readdirSync(cacheDir).filter((f) => f.endsWith(".lock")),
      [],
    );
  });

  test("the build lock: stale locks are taken over at once; a live holder is waited for, with its progress reported", { timeout: 60_000 }, async () => {
    const root = tempDir("cache-lock");
    for (let i = 0; i < 6; i++) await solid(join(root, `${i}.png`), RED, 5, 5);
    const cacheDir = tempDir("cache-lock-dir");
    // find the lock's name: build once, then remove the entry and keep its name
    const first = await loadImageFolder({ path: root, size: 4, cacheDir });
    first.images.dispose();
    const u8 = readdirSync(cacheDir).find((f) => f.endsWith(".u8")) as string;
    const lock = join(cacheDir, `${u8}.lock`);
    const clear = () => readdirSync(cacheDir).forEach((f) => rmSync(join(cacheDir, f)));
    const holder = (pid: number, host: string) => JSON.stringify({ pid, host, id: "someone", since: new Date().toISOString(), done: 3, total: 6 });
    const promptly = async (what: string) => {
      const t0 = Date.now();
      const ds = await loadImageFolder({ path: root, size: 4, cacheDir });
      assert.ok(Date.now() - t0 < 5000, `${what}: took ${Date.now() - t0} ms`);
      assert.equal(ds.fromCache, false, what);
      assert.equal(existsSync(lock), false, what);
      ds.images.dispose();
    };

    clear();
    writeFileSync(lock, holder(spawnSync(process.execPath, ["-e", ""]).pid as number, hostname()));
    await promptly("a holder on this host that has exited");
    clear();
    writeFileSync(lock, holder(process.pid, hostname()));
    await promptly("this process's pid, but not a lock it holds (a restarted container)");
    clear();
    writeFileSync(lock, holder(1, "another-host"));
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(lock, hourAgo, hourAgo);
    await promptly("another host's lock not refreshed for an hour");

    /** Starts a load against the current lock; after 700 ms it must still be waiting. */
    const waitsFor = async (): Promise<{ load: Promise<ImageFolder> }> => {
      const heard: [number, number][] = [];
      let settled = false;
      const load = loadImageFolder({ path: root, size: 4, cacheDir, onProgress: (d, t) => heard.push([d, t]) }).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(settled, false, "the load did not wait for the lock's holder");
      assert.deepEqual(heard, [[3, 6]], "the holder's progress is reported as the waiter's");
      return { load };
    };

    // a live process on this host: waited for; when it dies without an entry, the waiter builds
    clear();
    const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    const exited = new Promise((r) => sleeper.once("exit", r));
    try {
      writeFileSync(lock, holder(sleeper.pid as number, hostname()));
      const { load } = await waitsFor();
      sleeper.kill();
      await exited;
      const ds = await load;
      assert.equal(ds.fromCache, false);
      ds.images.dispose();
    } finally {
      sleeper.kill();
    }
    assert.equal(existsSync(lock), false);

    // another host's lock, fresh: waited for; let go without an entry (a failed build), the waiter builds at once
    clear();
    writeFileSync(lock, holder(1, "another-host"));
    const { load } = await waitsFor();
    rmSync(lock);
    const ds = await load;
    assert.equal(ds.fromCache, false);
    assert.deepEqual(ds.images.shape, [6, 3, 4, 4]);
    assert.equal(existsSync(lock), false);
  });

  test("a cached folder is a memory map: reading every image adds file pages, not process memory", async () => {
    const root = tempDir("cache-mapped");
    for (let i = 0; i < 48; i++) await solid(join(root, `img${String(i).padStart(2, "0")}.png`), [i * 5, 255 - i * 5, 128], 16, 16);
    const cacheDir = tempDir("cache-mapped-dir");
    (await loadImageFolder({ path: root, size: 320, cacheDir })).images.dispose(); // build
    const rss = (field: "RssAnon" | "RssFile"): number => {
      const line = readFileSync("/proc/self/status", "utf-8")
        .split("\n")
        .find((l) => l.startsWith(`${field}:`));
      return Number(/(\d+) kB/.exec(line ?? "")?.[1]) * 1024;
    };
    const bytes = 48 * 3 * 320 * 320; // 14.7 MB
    const anonBefore = rss("RssAnon");
    const fileBefore = rss("RssFile");
    const ds = await loadImageFolder({ path: root, size: 320, cacheDir });
    assert.equal(ds.fromCache, true);
    const total = ds.images.max().item(); // touches every page (a uint8 reduction: no int64 copy of the images)
    assert.ok(total > 0);
    const anonGrowth = rss("RssAnon") - anonBefore;
    const fileGrowth = rss("RssFile") - fileBefore;
    assert.ok(anonGrowth < bytes / 4, `process memory grew by ${anonGrowth} bytes for ${bytes} bytes of images`);
    assert.ok(fileGrowth > bytes / 2, `file pages grew by ${fileGrowth} bytes for ${bytes} bytes of images`);
    ds.images.dispose();
  });

  test("defaultCacheDir: SIMCLR_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache", () => {
    const saved = { own: process.env.SIMCLR_CACHE_DIR, xdg: process.env.XDG_CACHE_HOME };
    try {
      process.env.SIMCLR_CACHE_DIR = "/tmp/own-cache";
      process.env.XDG_CACHE_HOME = "/tmp/xdg";
      assert.equal(defaultCacheDir(), "/tmp/own-cache");
      delete process.env.SIMCLR_CACHE_DIR;
      assert.equal(defaultCacheDir(), "/tmp/xdg/simclr");
      delete process.env.XDG_CACHE_HOME;
      assert.match(defaultCacheDir(), /\/\.cache\/simclr$/);
    } finally {
      for (const [key, value] of [
        ["SIMCLR_CACHE_DIR", saved.own],
        ["XDG_CACHE_HOME", saved.xdg],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
