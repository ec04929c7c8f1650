import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cudaAvailable, cudaMemoryStats, cudaSynchronize, ones, resetCudaPeakMemory, setCudaSyncDebugMode, zeros } from "../../src/index.js";
import { benchSteps } from "../../src/jobs/bench.js";
import { loadConfig } from "../../src/config/load.js";

// What scripts/gpu-check.sh reports (GPU memory, host synchronisation): the CUDA halves run on
// a GPU machine, the rest everywhere.
const cudaBuild = cudaMemoryStats() !== null;

describe("CUDA runtime: memory counters, synchronisation, sync debug mode", () => {
  test("device names are checked", () => {
    assert.throws(() => cudaMemoryStats("cpu"), /expected a CUDA device \("cuda" or "cuda:N"\), got "cpu"/);
    assert.throws(() => resetCudaPeakMemory("cuda:x"), /got "cuda:x"/);
    assert.throws(() => setCudaSyncDebugMode("loud" as never), /expected one of off, warn, error, got "loud"/);
  });

  test("a build without CUDA has no counters and sets no mode", { skip: cudaBuild ? "this addon is a CUDA build" : false }, () => {
    assert.equal(cudaAvailable(), false);
    assert.equal(cudaMemoryStats(), null);
    assert.equal(setCudaSyncDebugMode("error"), null);
    cudaSynchronize(); // a no-op
    ones([1]).item(); // and nothing was set: a host read is fine
  });

  test("bench's sync check is refused off a GPU, naming the key", () => {
    const config = loadConfig({ set: ["train.batchSize=8", "model.width=4"] });
    assert.throws(() => benchSteps(config, { steps: 1, warmup: 0, syncCheck: true }), /sync check is of a step on a GPU: set train.device=cuda/);
  });

  test("the allocator's peak counts a 64 MiB tensor, and resets", { skip: cudaAvailable() ? false : "no CUDA device" }, () => {
    cudaSynchronize();
    resetCudaPeakMemory();
    const before = cudaMemoryStats();
    assert.ok(before !== null);
    const t = zeros([16 * 2 ** 20], { device: "cuda" }); // 64 MiB
    const during = cudaMemoryStats();
    assert.ok(during !== null && during.peakAllocatedBytes - before.allocatedBytes >= 64 * 2 ** 20, JSON.stringify({ before, during }));
    assert.ok(during.reservedBytes >= during.allocatedBytes);
    t.dispose();
    resetCudaPeakMemory();
    const after = cudaMemoryStats();
    assert.ok(after !== null && after.peakAllocatedBytes < during.peakAllocatedBytes);
  });

  test('sync debug mode "error" makes a host read throw, and is restored', { skip: cudaAvailable() ? false : "no CUDA device" }, () => {
    const x = ones([4], { device: "cuda" });
    const previous = setCudaSyncDebugMode("error");
    try {
      x.mul(2); // queued, no wait
      assert.throws(() => x.sum().item(), /synchronizing CUDA operation/);
    } finally {
      setCudaSyncDebugMode(previous ?? "off");
    }
    assert.equal(x.sum().item(), 4);
  });
});
