/**
 * The short crash-resume soak (the long one is `npm run soak`): a run killed 5 times at seeded
 * random points (failpoints and outside SIGKILLs) and resumed each time ends with the same
 * checkpoint and metrics as the run left alone, bit for bit.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { soak } from "./soak.js";

test("killed 5 times at random points and resumed: the final checkpoint and metrics.jsonl equal the uninterrupted run's", async () => {
  const lines: string[] = [];
  const result = await soak({ dir: mkdtempSync(join(tmpdir(), "simclr-soak-")), kills: 5, epochs: 4, seed: 7, log: (l) => lines.push(l) });
  assert.deepEqual(result.differences, [], lines.join("\n"));
  assert.equal(result.kills, 5);
  assert.ok(result.checkpointFiles.includes("model.safetensors") && result.checkpointFiles.includes("optimizer.safetensors"));
  assert.ok(result.metricsLines >= 20, `${result.metricsLines} metrics lines`);
});
