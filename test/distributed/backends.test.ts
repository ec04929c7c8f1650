/** A backend the addon was built without is refused at once, before any rendezvous, naming the fix. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DistributedError, ProcessGroup, freePort, ncclAvailable } from "../../src/index.js";
import { native } from "../../src/native.js";

test(
  "nccl on an addon without it fails at once, naming a CUDA libtorch and simclr doctor",
  { skip: ncclAvailable() ? "this addon has NCCL" : false },
  async () => {
    const port = await freePort();
    const started = Date.now();
    // size 2 with no second rank: a rendezvous would wait for the whole timeout
    assert.throws(
      () => ProcessGroup.init({ host: "127.0.0.1", port, rank: 0, size: 2, backend: "nccl", timeoutMs: 30_000 }),
      (e: Error) =>
        e instanceof DistributedError && /built without NCCL/.test(e.message) && /simclr doctor/.test(e.message) && /torch==2\.14\.1/.test(e.message),
    );
    assert.ok(Date.now() - started < 5_000, "it waited for a rendezvous");
  },
);

test(
  "the addon says whether it has Gloo, and a gloo group of 1 works when it does",
  { skip: native.distHasGloo() ? false : "this addon has no Gloo (scripts/no-gloo-check.sh covers that build)" },
  async () => {
    const g = ProcessGroup.init({ host: "127.0.0.1", port: await freePort(), rank: 0, size: 1, backend: "gloo" });
    g.destroy();
  },
);
