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
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", `const T = await import(${JSON.stringify(index)});\n${body}`], {
    env,
    encoding: "utf-8",
  });
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
      const mapped = [];
      for (let i = 0; i < 4; i++) {
        T.tidy(() => { const o = simclrForward(model, aug, images, { temperature: 0.2, precision: "fp32", memoryFormat: "channels_last", chunkSize: null }); o.backward(); losses.push(o.loss.item()); });
        opt.step(); opt.zeroGrad();
        mapped.push(T.cpuAllocatorStats()?.segmentsMapped ?? null);
      }
      console.log(JSON.stringify({ losses, mapped }));`;
    const cached = run("caching", body) as { losses: number[]; mapped: number[] };
    const plain = run("default", body) as { losses: number[]; mapped: (number | null)[] };
    assert.equal(cached.losses.length, 4);
    assert.deepEqual(cached.losses, plain.losses);
    assert.deepEqual(plain.mapped, [null, null, null, null], "no caching allocator under SIMCLR_MALLOC=default");
    // after the first steps every block comes from the cache: no new segment in steps 3 and 4
    assert.ok((cached.mapped[0] as number) > 0);
    assert.equal(cached.mapped[3], cached.mapped[1]);
  });

  test("a freed block is split for smaller requests and merged again for a larger one", () => {
    const body = `
      const s = () => T.cpuAllocatorStats();
      const MiB = 1 << 18; // float32 elements per MiB
      const before = s();
      const big = T.ones([24 * MiB]);
      big.dispose();
      const mapped = s().segmentsMapped;
      const halves = [T.full([12 * MiB], 1), T.full([12 * MiB], 2)]; // both out of the 24 MiB block
      const afterSplit = s();
      const sums = halves.map((h) => h.sum().item());
      halves.forEach((h) => h.dispose());
      const whole = T.ones([24 * MiB]); // the two halves merged back
      const afterMerge = s();
      whole.dispose();
      console.log(JSON.stringify({ grew: mapped - before.segmentsMapped, split: afterSplit.segmentsMapped - mapped, merge: afterMerge.segmentsMapped - mapped,
        live: afterSplit.liveBytes - before.liveBytes, end: s().liveBytes - before.liveBytes, sums }));`;
    const r = run("caching", body) as Record<string, unknown>;
    assert.deepEqual(r, { grew: 1, split: 0, merge: 0, live: 24 * 2 ** 20, end: 0, sums: [12 * 2 ** 18, 24 * 2 ** 18] });
  });

  test("a worker thread that loads the package shares the one allocator: blocks made before it are freed safely", () => {
    // The addon's init runs again in each worker; a second allocator instance would take over
    // the deleter and free the first one's mmap'd blocks with free() (heap corruption).
    const body = `
      const { Worker } = await import("node:worker_threads");
      const before = T.ones([4 << 20]); // 16 MiB, from the allocator installed by this thread
      const worker = new Worker("const T = await import(" + JSON.stringify(${JSON.stringify(index)}) + "); const t = T.ones([3 << 20]); t.dispose();", { eval: true, type: "module" });
      const code = await new Promise((resolve, reject) => { worker.on("exit", resolve); worker.on("error", reject); });
      const sum = before.sum().item();
      before.dispose();
      const again = T.ones([4 << 20]);
      const live = T.cpuAllocatorStats().liveBytes;
      again.dispose();
      console.log(JSON.stringify({ code, sum, live }));`;
    assert.deepEqual(run("caching", body), { code: 0, sum: 4 * 2 ** 20, live: 16 * 2 ** 20 });
  });

  test("random allocations and frees never hand out overlapping blocks", () => {
    // Each live tensor holds its own value; a block handed out twice (a split or merge gone
    // wrong) overwrites another tensor's value. 600 steps of sizes from 1 to 10 MiB.
    const body = `
      let seed = 12345;
      const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
      const base = T.cpuAllocatorStats();
      const alive = [];
      let bad = 0, unmapped = 0, checks = 0;
      for (let i = 0; i < 600; i++) {
        if (alive.length > 0 && (rand() < 0.45 || alive.length > 12)) {
          const [t] = alive.splice(Math.floor(rand() * alive.length), 1);
          t.tensor.dispose();
        } else {
          const n = (1 << 18) + Math.floor(rand() * 9 * (1 << 18)); // 1-10 MiB of float32
          alive.push({ tensor: T.full([n], i), value: i });
        }
        for (const a of alive) {
          checks++;
          if (a.tensor.min().item() !== a.value || a.tensor.max().item() !== a.value) bad++;
        }
      }
      const mid = T.cpuAllocatorStats();
      for (const a of alive) a.tensor.dispose();
      const end = T.cpuAllocatorStats();
      console.log(JSON.stringify({ bad, checks, unmapped: mid.segmentsUnmapped - base.segmentsUnmapped, leak: end.liveBytes - base.liveBytes,
        reserved: end.peakReservedBytes / end.peakLiveBytes }));`;
    const r = run("caching", body) as { bad: number; checks: number; unmapped: number; leak: number; reserved: number };
    assert.ok(r.checks > 2000, `only ${r.checks} checks`);
    assert.equal(r.bad, 0, "a tensor's contents changed under it");
    assert.equal(r.leak, 0, "bytes still counted live after every tensor was freed");
    assert.ok(r.unmapped > 0, "no segment was ever given back");
    // Segments in part still in use cannot be given back, so random sizes leave some
    // fragmentation above the 1.05x bound (1.2x here); an allocator that kept every freed
    // block would hold the ~1.8 GB allocated in all, 20x the peak.
    assert.ok(r.reserved < 1.5, `peak reserved ${r.reserved.toFixed(2)}x the peak live bytes`);
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
