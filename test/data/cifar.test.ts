import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { CIFAR10_CLASSES, loadCifarBinary } from "../../src/data/cifar.js";
import { ArgumentError } from "../../src/errors.js";
import { DataError } from "../../src/errors.js";

/** A record's pixels: every byte of channel c is `base + c`, except pixel (y, x) of red = y * 32 + x. */
function pixels(base: number): Buffer {
  const p = Buffer.alloc(3072);
  for (let c = 0; c < 3; c++) p.fill(base + c, c * 1024, (c + 1) * 1024);
  // A distinct red plane, so a transposed or interleaved copy would show.
  for (let i = 0; i < 1024; i++) p[i] = (base + i) % 256;
  return p;
}

/** CIFAR-10 records: label byte, then pixels. */
function cifar10(labels: number[], base = 0): Buffer {
  return Buffer.concat(labels.flatMap((l, i) => [Buffer.from([l]), pixels(base + 10 * i)]));
}

/** CIFAR-100 records: coarse label, fine label, then pixels. */
function cifar100(labels: [number, number][]): Buffer {
  return Buffer.concat(labels.flatMap(([coarse, fine], i) => [Buffer.from([coarse, fine]), pixels(10 * i)]));
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "simclr-cifar-"));
}

function cifarError(pattern: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof DataError && pattern.test(e.message);
}

describe("CIFAR binary files", () => {
  test("CIFAR-10: five train batches in order, CHW pixels, labels, default class names", () => {
    const dir = tempDir();
    for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), cifar10([b, b + 1], 100 * b));
    writeFileSync(join(dir, "test_batch.bin"), cifar10([9, 0, 3]));
    const train = loadCifarBinary({ path: dir });
    assert.deepEqual(train.images.shape, [10, 3, 32, 32]);
    assert.equal(train.images.dtype, "uint8");
    assert.equal(train.labels.dtype, "int64");
    assert.deepEqual(train.labels.toArray(), [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    assert.deepEqual(train.classes, CIFAR10_CLASSES);
    // Image 3 is batch 2's second record: base 200 + 10.
    const img = train.images.select(0, 3).toArray() as number[][][];
    const base = 210;
    assert.equal(img[0]?.[0]?.[0], base % 256);
    assert.equal(img[0]?.[1]?.[2], (base + 32 + 2) % 256, "red plane is row-major (y, x)");
    assert.equal(img[1]?.[5]?.[7], (base + 1) % 256, "green plane follows red");
    assert.equal(img[2]?.[31]?.[31], (base + 2) % 256, "blue plane follows green");

    const testSplit = loadCifarBinary({ path: dir, split: "test" });
    assert.deepEqual(testSplit.images.shape, [3, 3, 32, 32]);
    assert.deepEqual(testSplit.labels.toArray(), [9, 0, 3]);
  });

  test("limit keeps the first records, across batches", () => {
    const dir = tempDir();
    for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), cifar10([b, b, b], 7 * b));
    const ds = loadCifarBinary({ path: dir, limit: 4 });
    assert.deepEqual(ds.images.shape, [4, 3, 32, 32]);
    assert.deepEqual(ds.labels.toArray(), [1, 1, 1, 2]);
    assert.equal((ds.images.select(0, 3).toArray() as number[][][])[1]?.[0]?.[0], 14 + 1);
    assert.deepEqual(loadCifarBinary({ path: dir, limit: 100 }).images.shape, [15, 3, 32, 32]);
    assert.deepEqual(loadCifarBinary({ path: dir, limit: 0 }).images.shape, [0, 3, 32, 32]);
    assert.throws(() => loadCifarBinary({ path: dir, limit: -1 }), ArgumentError);
  });

  test("the parent folder of cifar-10-batches-bin works, and batches.meta.txt names the classes", () => {
    const parent = tempDir();
    const dir = join(parent, "cifar-10-batches-bin");
    mkdirSync(dir);
    writeFileSync(join(dir, "test_batch.bin"), cifar10([4]));
    const names = Array.from({ length: 10 }, (_, i) => `name${i}`);
    writeFileSync(join(dir, "batches.meta.txt"), `${names.join("\n")}\n\n`);
    const ds = loadCifarBinary({ path: parent, split: "test" });
    assert.deepEqual(ds.classes, names);
    assert.deepEqual(ds.labels.toArray(), [4]);
    writeFileSync(join(dir, "batches.meta.txt"), "a\nb\n");
    assert.throws(() => loadCifarBinary({ path: parent, split: "test" }), cifarError(/batches.meta.txt: has 2 class names, expected 10/));
  });

  test("CIFAR-100: fine labels, fine_label_names.txt or class_N names", () => {
    const parent = tempDir();
    const dir = join(parent, "cifar-100-binary");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "train.bin"),
      cifar100([
        [3, 99],
        [19, 0],
        [0, 42],
      ]),
    );
    writeFileSync(join(dir, "test.bin"), cifar100([[1, 7]]));
    const train = loadCifarBinary({ path: parent, variant: "cifar100" });
    assert.deepEqual(train.images.shape, [3, 3, 32, 32]);
    assert.deepEqual(train.labels.toArray(), [99, 0, 42]);
    assert.equal(train.classes.length, 100);
    assert.equal(train.classes[99], "class_99");
    assert.equal((train.images.select(0, 1).toArray() as number[][][])[2]?.[0]?.[0], 12, "pixels start after both label bytes");
    const names = Array.from({ length: 100 }, (_, i) => `fine${i}`);
    writeFileSync(join(dir, "fine_label_names.txt"), names.join("\n"));
    const testSplit = loadCifarBinary({ path: dir, variant: "cifar100", split: "test", limit: 1 });
    assert.deepEqual(testSplit.labels.toArray(), [7]);
    assert.equal(testSplit.classes[7], "fine7");
  });

  test("errors name the file and the problem", () => {
    const dir = tempDir();
    assert.throws(
      () => loadCifarBinary({ path: dir }),
      cifarError(
        new RegExp(`data_batch_1.bin: not found \\(looked for data_batch_1.bin..data_batch_5.bin in ${dir} and ${join(dir, "cifar-10-batches-bin")}\\)`),
      ),
    );
    assert.throws(() => loadCifarBinary({ path: dir, variant: "cifar100", split: "test" }), cifarError(/test.bin: not found .*cifar-100-binary/));
    writeFileSync(join(dir, "data_batch_1.bin"), cifar10([1]));
    assert.throws(() => loadCifarBinary({ path: dir }), cifarError(/data_batch_2.bin: not found \(this split needs data_batch_1.bin..data_batch_5.bin/));

    writeFileSync(join(dir, "test_batch.bin"), cifar10([1, 2]).subarray(0, 3073 + 100));
    assert.throws(
      () => loadCifarBinary({ path: dir, split: "test" }),
      cifarError(/test_batch.bin: truncated or not CIFAR binary: 3173 bytes is not a multiple of the 3073-byte record/),
    );
    writeFileSync(join(dir, "test_batch.bin"), Buffer.alloc(0));
    assert.throws(() => loadCifarBinary({ path: dir, split: "test" }), cifarError(/test_batch.bin: is empty/));
    writeFileSync(join(dir, "test_batch.bin"), cifar10([1, 2, 10]));
    assert.throws(() => loadCifarBinary({ path: dir, split: "test" }), cifarError(/test_batch.bin: label 10 of record 2 is out of range \(0..9\)/));
    assert.equal(loadCifarBinary({ path: dir, split: "test", limit: 2 }).labels.numel, 2, "records past the limit are not read");

    writeFileSync(join(dir, "train.bin"), cifar100([[0, 100]]));
    assert.throws(() => loadCifarBinary({ path: dir, variant: "cifar100" }), cifarError(/train.bin: label 100 of record 0 is out of range \(0..99\)/));
    writeFileSync(
      join(dir, "train.bin"),
      cifar100([
        [0, 1],
        [20, 1],
      ]),
    );
    assert.throws(() => loadCifarBinary({ path: dir, variant: "cifar100" }), cifarError(/train.bin: coarse label 20 of record 1 is out of range/));
    // A CIFAR-10 file read as CIFAR-100: the record sizes disagree.
    writeFileSync(join(dir, "train.bin"), cifar10([1, 2]));
    assert.throws(() => loadCifarBinary({ path: dir, variant: "cifar100" }), cifarError(/not a multiple of the 3074-byte record/));
  });
});
