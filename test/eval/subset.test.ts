import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { getRngState, tensor } from "../../src/index.js";
import { balancedSubset, perClassCount, readSubset } from "../../src/eval/subset.js";

describe("labelled subsets", () => {
  const labels = tensor(
    Array.from({ length: 1000 }, (_, i) => (i * 7) % 10),
    { dtype: "int64" },
  );

  test("exactly class-balanced, the same for the same seed, different for another", () => {
    const a = balancedSubset(labels, 10, "5%", 0);
    assert.equal(a.perClass, 5);
    assert.equal(a.indices.length, 50);
    const values = labels.dataAsNumbers();
    const counts = new Array(10).fill(0);
    for (const i of a.indices) counts[values[i]!]++;
    assert.deepEqual(counts, new Array(10).fill(5));
    assert.equal(new Set(a.indices).size, 50, "no index twice");
    assert.deepEqual(balancedSubset(labels, 10, "5%", 0).indices, a.indices);
    assert.notDeepEqual(balancedSubset(labels, 10, "5%", 1).indices, a.indices);
    assert.equal(balancedSubset(labels, 10, "3-per-class", 0).indices.length, 30);
  });

  test("specs and saved files are checked", () => {
    assert.equal(perClassCount("1%", 60000, 10), 60);
    assert.equal(perClassCount("10%", 60000, 10), 600);
    assert.throws(() => perClassCount("ten", 100, 10), /a label subset must be like 1%, 10% or 25-per-class/);
    assert.throws(() => perClassCount("0.1%", 100, 10), /leaves no image per class/);
    assert.throws(() => balancedSubset(labels, 10, "200-per-class", 0), /class 0 has 100 images, fewer than the 200/);
    const dir = mkdtempSync(join(tmpdir(), "simclr-subset-"));
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ spec: "1%", seed: 0, perClass: 1, indices: [1, 5000] }));
    assert.throws(() => readSubset(join(dir, "bad.json"), 1000), /bad.json: indices must be integers in \[0, 1000\)/);
    writeFileSync(join(dir, "nospec.json"), JSON.stringify({ indices: [1, 2] }));
    assert.throws(() => readSubset(join(dir, "nospec.json"), 1000), /nospec.json: is not a subset written by finetune: spec/);
    writeFileSync(join(dir, "null.json"), "null");
    assert.throws(() => readSubset(join(dir, "null.json"), 1000), /null.json: is not a subset/);
  });
});

test("drawing a subset leaves the caller's RNG as it was", () => {
  const before = getRngState();
  balancedSubset(
    tensor(
      Array.from({ length: 100 }, (_, i) => i % 10),
      { dtype: "int64" },
    ),
    10,
    "10%",
    7,
  );
  const after = getRngState();
  assert.ok(after.eq(before).all().item() === 1);
});
