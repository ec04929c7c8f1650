import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { DataError, loadIdxDataset, parseIdx } from "../../src/index.js";

function idx(shape: number[], data: number[], type = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = type;
  header[3] = shape.length;
  shape.forEach((n, i) => header.writeUInt32BE(n, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

describe("IDX files", () => {
  test("raw and gzip-compressed files parse to the same array", () => {
    const bytes = idx([2, 2], [1, 2, 3, 4]);
    for (const b of [bytes, gzipSync(bytes)]) {
      const a = parseIdx(b);
      assert.deepEqual(a.shape, [2, 2]);
      assert.deepEqual([...a.data], [1, 2, 3, 4]);
    }
  });

  test("bad files give errors that name the file and the problem", () => {
    const cases: [Uint8Array, RegExp][] = [
      [Buffer.from([0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1, 5]), /x.idx: wrong magic number 0x12340801: not an IDX file/],
      [idx([3], [1, 2]), /truncated: shape \[3\] needs 3 bytes of data, the file has 2/],
      [idx([1], [1, 2]), /1 unexpected bytes after the data/],
      [idx([2], [1, 2], 0x0d), /element type 0xd is not supported/],
      [Buffer.from([0, 0, 8, 2, 0, 0]), /truncated header/],
      [gzipSync(idx([2], [1, 2])).subarray(0, 12), /gzip data is corrupt or truncated/],
      [gzipSync(idx([2], [1, 2])).subarray(0, 25), /gzip data is corrupt or truncated/],
      [Buffer.from(gzipSync(idx([2], [1, 2])).map((b, i, a) => (i === a.length - 6 ? b ^ 1 : b))), /CRC-32 or length does not match/],
      [Buffer.from([0, 0]), /too short/],
    ];
    for (const [bytes, pattern] of cases)
      assert.throws(
        () => parseIdx(bytes, "x.idx"),
        (e: Error) => e instanceof DataError && pattern.test(e.message),
      );
  });

  test("a data set folder: missing files and mismatched labels are named", () => {
    const dir = mkdtempSync(join(tmpdir(), "simclr-idx-"));
    assert.throws(() => loadIdxDataset({ path: dir }), /train-images-idx3-ubyte: not found/);
    writeFileSync(join(dir, "train-images-idx3-ubyte"), idx([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 255]));
    writeFileSync(join(dir, "train-labels-idx1-ubyte.gz"), gzipSync(idx([3], [1, 2, 3])));
    assert.throws(() => loadIdxDataset({ path: dir }), /3 labels for 2 images/);
    writeFileSync(join(dir, "train-labels-idx1-ubyte.gz"), gzipSync(idx([2], [1, 12])));
    assert.throws(() => loadIdxDataset({ path: dir }), /label 12 at index 1 is not a class/);
    writeFileSync(join(dir, "train-labels-idx1-ubyte.gz"), gzipSync(idx([2], [1, 9])));
    const ds = loadIdxDataset({ path: dir });
    assert.deepEqual(ds.images.shape, [2, 1, 2, 2]);
    assert.equal(ds.images.dtype, "uint8");
    assert.deepEqual(ds.labels.toArray(), [1, 9]);
    // images of no pixels parse as IDX but are not images
    writeFileSync(join(dir, "train-images-idx3-ubyte"), idx([2, 0, 0], []));
    assert.throws(
      () => loadIdxDataset({ path: dir }),
      (e: unknown) =>
        e instanceof DataError && /train-images-idx3-ubyte: images of 0x0 pixels \(shape \[2, 0, 0\]\): an image needs at least one pixel/.test(e.message),
    );
  });
});

test("a gzip stream that expands past the bound is refused before it is inflated (gzip bomb)", () => {
  const bomb = gzipSync(Buffer.alloc(64 << 20)); // 64 MiB of zeros in ~65 KB
  assert.throws(
    () => parseIdx(bomb, "bomb.gz", 1 << 20),
    (e: unknown) => e instanceof DataError && /bomb\.gz: .*gzip bomb: its trailer declares 67108864 bytes, more than the 1048576 allowed/.test(e.message),
  );
});
