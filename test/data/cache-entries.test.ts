import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { listCacheEntries, removeCacheEntries } from "../../src/data/cache-entries.js";
import { loadImageFolder } from "../../src/data/image-folder.js";
import { runCli } from "../helpers.js";

async function folder(name: string, n: number, value: number): Promise<string> {
  const root = join(mkdtempSync(join(tmpdir(), "simclr-cache-entries-")), name);
  mkdirSync(root);
  for (let i = 0; i < n; i++)
    await sharp(Buffer.alloc(6 * 6 * 3, value + i), { raw: { width: 6, height: 6, channels: 3 } })
      .png()
      .toFile(join(root, `${i}.png`));
  return root;
}

const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid as number;

describe("the image-folder cache entries (simclr cache)", () => {
  test("listed with their folder, images and size; cleared by folder, by age, never while being built", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "simclr-cache-dir-"));
    const a = await folder("a", 3, 10);
    const b = await folder("b", 5, 90);
    (await loadImageFolder({ path: a, size: 4, cacheDir })).images.dispose();
    (await loadImageFolder({ path: b, size: 8, cacheDir })).images.dispose();
    // the leftover of a killed build (its process gone), and an entry a live process is building
    writeFileSync(join(cacheDir, `image-folder-${"1".repeat(64)}.u8.tmp-${deadPid()}-abc`), Buffer.alloc(1000));
    writeFileSync(
      join(cacheDir, `image-folder-${"2".repeat(64)}.u8.lock`),
      JSON.stringify({ pid: process.pid, host: hostname(), since: "", done: 1, total: 9 }),
    );
    writeFileSync(join(cacheDir, "unrelated.txt"), "not an entry");

    const entries = listCacheEntries(cacheDir);
    assert.equal(entries.length, 4);
    const byRoot = (r: string) => entries.find((e) => e.root === r);
    assert.deepEqual([byRoot(a)?.images, byRoot(a)?.size, byRoot(a)?.channels, byRoot(a)?.complete], [3, 4, 3, true]);
    assert.deepEqual([byRoot(b)?.images, byRoot(b)?.size, byRoot(b)?.complete], [5, 8, true]);
    assert.ok((byRoot(b)?.bytes as number) >= 5 * 3 * 8 * 8);
    const leftover = entries.find((e) => e.key === "1".repeat(64));
    assert.deepEqual([leftover?.complete, leftover?.building, leftover?.bytes], [false, false, 1000]);
    assert.equal(entries.find((e) => e.key === "2".repeat(64))?.building, true);

    // by folder: only a's entry goes; a decodes again, b is still a hit
    assert.deepEqual(
      removeCacheEntries(cacheDir, { root: a }).removed.map((e) => e.root),
      [a],
    );
    assert.equal((await loadImageFolder({ path: a, size: 4, cacheDir })).fromCache, false);
    assert.equal((await loadImageFolder({ path: b, size: 8, cacheDir })).fromCache, true);

    // by age: b's files made three days old go, a (just used) stays; the busy entry is kept
    const old = new Date(Date.now() - 3 * 86_400_000);
    for (const f of readdirSync(cacheDir)) if (f.startsWith(`image-folder-${byRoot(b)?.key}`)) utimesSync(join(cacheDir, f), old, old);
    const aged = removeCacheEntries(cacheDir, { olderThanDays: 1 });
    assert.deepEqual(
      aged.removed.map((e) => e.root),
      [b],
    );

    const all = removeCacheEntries(cacheDir);
    assert.deepEqual(
      all.busy.map((e) => e.key),
      ["2".repeat(64)],
    );
    assert.deepEqual(readdirSync(cacheDir).sort(), [`image-folder-${"2".repeat(64)}.u8.lock`, "unrelated.txt"]);
  });

  test("an entry removed while a process trains from it: the mapped images stay readable", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "simclr-cache-dir-"));
    const root = await folder("c", 4, 50);
    (await loadImageFolder({ path: root, size: 4, cacheDir })).images.dispose();
    const mapped = await loadImageFolder({ path: root, size: 4, cacheDir });
    assert.equal(mapped.fromCache, true);
    const before = mapped.images.sum().item();
    assert.equal(removeCacheEntries(cacheDir).removed.length, 1);
    assert.deepEqual(readdirSync(cacheDir), []);
    assert.equal(mapped.images.sum().item(), before);
    mapped.images.dispose();
  });

  test("simclr cache list and clear", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "simclr-cache-dir-"));
    const root = await folder("d", 2, 30);
    (await loadImageFolder({ path: root, size: 4, cacheDir })).images.dispose();
    const list = await runCli(["cache", "--dir", cacheDir]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /1 entries/);
    assert.match(list.stdout, new RegExp(`\\s2\\s+4\\s+3\\s+${root.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    const json = await runCli(["cache", "list", "--json", "--dir", cacheDir]);
    assert.equal(JSON.parse(json.stdout.trim()).root, root);

    for (const bad of [
      ["cache", "frob"],
      ["cache", "clear", "--older-than", "soon"],
      ["cache", "list", "--folder", root],
    ]) {
      const r = await runCli([...bad, "--dir", cacheDir]);
      assert.equal(r.code, 2, `${bad.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /ERR_SIMCLR_USAGE/);
    }
    const kept = await runCli(["cache", "clear", "--older-than", "1", "--dir", cacheDir]);
    assert.deepEqual(JSON.parse(kept.stdout.trim()), { dir: cacheDir, removed: 0, freed_bytes: 0, kept_busy: 0 });
    const cleared = await runCli(["cache", "clear", "--dir", cacheDir]);
    assert.equal(JSON.parse(cleared.stdout.trim()).removed, 1);
    assert.deepEqual(readdirSync(cacheDir), []);
  });
});
