import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";

const index = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "index.js");

/** Runs `body` (an ES module snippet that prints JSON) in a fresh process under SIMCLR_MALLOC=mode. */
function run(mode: string, body: string): unknown {
  const env: NodeJS.ProcessEnv = { ...process.env, SIMCLR_MALLOC: mode };
  delete env.MALLOC_MMAP_THRESHOLD_;
  delete env.MALLOC_TRIM_THRESHOLD_;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", `const T = await import(${JSON.stringify(index)});\n${body}`], { env, encoding: "utf-8" });
  return JSON.parse(out.trim().split("\n").pop() as string);
}

describe("the caching CPU allocator (native/cpu_allocator.cc)", () => {
  test("training steps give the same numbers under the caching allocator and under plain malloc", () => {
    const body = `
      T.manualSeed(3);
      const cfg = T.loadConfig({ set: ["model.width=4", "train.batchSize=64"] });
      const { buildModel, buildOptimizer, buildAugment } = await import(${JSON.stringify(join(dirname(index), "recipe", "recipe.js"))});
      const { simclrForward } = await import(${JSON.stringify(join(dirname(index), "train", "simclr-step.js"))});
      const model = buildModel(cfg, 1).train();
      const opt = buildOptimizer(cfg, model.namedParameters());
      const aug = buildAugment(cfg);
      const images = T.rand([64, 1, 28, 28]);
      const losses = [];
      for (let i = 0; i < 3; i++) {
        T.tidy(() => { const o = simclrForward(model, aug, images, { temperature: 0.2, precision: "fp32", memoryFormat: "channels_last", chunkSize: null }); o.backward(); losses.push(o.loss.item()); });
        opt.step(); opt.zeroGrad();
      }
      console.log(JSON.stringify(losses));`;
    const cached = run("caching", body) as number[];
    assert.equal(cached.length, 3);
    assert.deepEqual(cached, run("default", body));
  });

  test("memory stays bounded when every block is a new size: cached blocks are freed, not hoarded", () => {
    const body = `
      const { readFileSync } = await import("node:fs");
      const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf-8"))[1]) * 1024;
      const base = rss();
      // 400 blocks of 1-9 MiB, each a different size, 4 alive at a time: 2 GiB allocated in all
      const alive = [];
      for (let i = 0; i < 400; i++) {
        const t = T.ones([(1 << 18) + i * 5003]); // float32: 1 MiB + i * 20 KB
        alive.push(t);
        if (alive.length > 4) alive.shift().dispose();
      }
      for (const t of alive) t.dispose();
      const big = T.ones([3 << 20]); // 12 MiB, then freed and asked again: the same block back
      big.dispose();
      const again = T.ones([3 << 20]);
      again.dispose();
      console.log(JSON.stringify({ growth: rss() - base }));`;
    const { growth } = run("caching", body) as { growth: number };
    assert.ok(growth < 96 * 2 ** 20, `RSS grew by ${(growth / 2 ** 20).toFixed(0)} MiB`);
  });
});
