/**
 * Data parallelism over loopback Gloo, with real processes: collectives against the
 * one-process computation on the concatenated batch, `simclr pretrain --nproc 2` against one
 * process at the same global batch, resuming across world sizes, and a killed worker.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort, latestCheckpoint, loadConfig, pretrain, readSafetensors, resume } from "../../src/index.js";
import { BUILT_ENGINE, CLI, maxAbsDiff, quiet, lossCurve as losses } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";
import { WORLD, gatherScenario, syncBnScenario, type GatherResult, type SyncBnResult } from "./scenarios.js";

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "worker.js");
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-dist-${name}-`));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
  seconds: number;
}

function runProcess(args: string[], env: NodeJS.ProcessEnv, onSpawn?: (pid: number) => void, command = process.execPath): Promise<Exit> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    if (child.pid !== undefined) onSpawn?.(child.pid);
    let stderr = "";
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code, signal) => resolve({ code, signal, stderr, stdout, seconds: (performance.now() - started) / 1000 }));
  });
}

/** Runs `worker.js scenario` on `world` ranks; returns each rank's JSON output. */
async function onRanks<T>(world: number, scenario: string, args: string[] = []): Promise<T[]> {
  const port = await freePort();
  const dir = tmp(scenario);
  const exits = await Promise.all(
    Array.from({ length: world }, (_, rank) =>
      runProcess([WORKER, scenario, join(dir, `${rank}.json`), ...args], {
        RANK: String(rank),
        WORLD_SIZE: String(world),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(world),
        MASTER_ADDR: "127.0.0.1",
        MASTER_PORT: String(port),
      }),
    ),
  );
  exits.forEach((e, rank) => assert.equal(e.code, 0, `rank ${rank}: ${e.stderr}`));
  return exits.map((_, rank) => JSON.parse(readFileSync(join(dir, `${rank}.json`), "utf-8")) as T);
}

describe("collectives with gradients (2 processes, different data per rank)", () => {
  test("gathered negatives: loss and gradients equal one process on the concatenated batch (float64, 1e-6)", async () => {
    const reference = gatherScenario(null);
    const ranks = await onRanks<GatherResult>(WORLD, "gather");
    for (const [rank, r] of ranks.entries()) {
      assert.ok(Math.abs(r.loss - reference.loss) < 1e-6, `rank ${rank}: loss ${r.loss} vs ${reference.loss}`);
      assert.ok(maxAbsDiff(r.weightGrad, reference.weightGrad) < 1e-6, `rank ${rank}: weight gradient`);
      assert.ok(maxAbsDiff(r.inputGrads[0]!, reference.inputGrads[rank]!) < 1e-6, `rank ${rank}: input gradient`);
    }
  });

  test("the check catches a gather whose backward does not sum over ranks", async () => {
    const reference = gatherScenario(null);
    const ranks = await onRanks<GatherResult>(WORLD, "gather-naive");
    assert.ok(Math.abs(ranks[0]!.loss - reference.loss) < 1e-6, "the loss looks fine");
    assert.ok(maxAbsDiff(ranks[0]!.weightGrad, reference.weightGrad) > 1e-3, "but the gradients are off");
  });

  test("data parallelism starts from rank 0's weights, and the overlap hooks launch every bucket during backward", async () => {
    const ranks = await onRanks<{ weights: number[]; buckets: number; late: number[] }>(WORLD, "ddp-setup");
    assert.deepEqual(ranks[1]!.weights, ranks[0]!.weights, "rank 1's changed weights were replaced by rank 0's");
    assert.ok(ranks[0]!.buckets > 1, `${ranks[0]!.buckets} buckets`);
    for (const r of ranks) assert.deepEqual(r.late, [0, 0], "no bucket was left for after backward");
  });

  test("sync batch norm equals batch norm over the concatenated batch: outputs, running statistics, gradients", async () => {
    const reference = syncBnScenario(null);
    const ranks = await onRanks<SyncBnResult>(WORLD, "syncbn");
    for (const [rank, r] of ranks.entries()) {
      assert.ok(maxAbsDiff(r.output[0]!, reference.output[rank]!) < 1e-5, `rank ${rank}: output`);
      assert.ok(maxAbsDiff(r.runningMean, reference.runningMean) < 1e-5, `rank ${rank}: running mean`);
      assert.ok(maxAbsDiff(r.runningVar, reference.runningVar) < 1e-4, `rank ${rank}: running var`);
      assert.ok(maxAbsDiff(r.inputGrads[0]!, reference.inputGrads[rank]!) < 1e-5, `rank ${rank}: input gradient`);
      assert.ok(maxAbsDiff(r.weightGrad, reference.weightGrad) < 1e-3, `rank ${rank}: weight gradient`);
      assert.ok(maxAbsDiff(r.biasGrad, reference.biasGrad) < 1e-3, `rank ${rank}: bias gradient`);
    }
  });
});

/** Loss lines in metrics.jsonl: a resume must not leave duplicates behind. */
function lossLines(dir: string): number {
  return readFileSync(join(dir, "metrics.jsonl"), "utf-8")
    .split("\n")
    .filter((l) => l.includes('"loss"')).length;
}

function assertSameCurve(a: Map<number, number>, b: Map<number, number>, tolerance: number, what: string): void {
  assert.deepEqual([...b.keys()], [...a.keys()], `${what}: steps`);
  for (const [step, loss] of a) {
    const other = b.get(step)!;
    assert.ok(Math.abs(other - loss) <= tolerance * Math.abs(loss), `${what}: step ${step}: ${other} vs ${loss}`);
  }
}

describe("data-parallel pretraining", () => {
  let data = "";
  // LARS at a small learning rate: a smooth curve, so float rounding (the order of sums
  // differs between 1 and 2 processes) stays at rounding level over 24 steps.
  // NCHW: oneDNN's channels-last kernels order their reductions by batch size, so a 32-image
  // slice and a 64-image batch drift apart by ~2e-4 after 9 steps; in NCHW the curves agree to
  // 1e-4 over 24 steps, which is what checks the distributed algorithm itself.
  const curveSet = () => syntheticSet(data, ["train.epochs=3", "optim.lr=0.05", "monitor.knnEvery=0", "train.threads=1", "train.memoryFormat=contiguous"]);
  // The one-process reference every test here compares with: made once, only read.
  let one = "";
  before(async () => {
    data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 512);
    one = tmp("one");
    await pretrain(one, loadConfig({ set: curveSet() }), { progress: quiet(), handleSignals: false });
  });

  test("`simclr pretrain --nproc 2` trains to the curve of one process at the same global batch (24 steps, 1e-4)", async () => {
    const two = tmp("two");
    const r = await runProcess([CLI, "pretrain", "--out", two, "--nproc", "2", ...curveSet().flatMap((s) => ["--set", s])], {});
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /data parallel: 2 processes \(gloo\), 32 images each per global batch of 64/);
    assert.equal(losses(one).size, 24);
    assertSameCurve(losses(one), losses(two), 1e-4, "2 processes");
  });

  test("weights after 3 steps of plain SGD (gradient-scale sensitive) equal one process's (1e-5), with and without overlap", async () => {
    // NCHW, as for the curves above: channels-last reductions are ordered by batch size
    const set = syntheticSet(data, [
      "optim.name=sgd",
      "optim.lr=0.05",
      "monitor.knnEvery=0",
      "monitor.linearProbe=false",
      "train.threads=1",
      "train.memoryFormat=contiguous",
    ]);
    const single = await pretrain(tmp("sgd-one"), loadConfig({ set }), { progress: quiet(), handleSignals: false, stopAfterSteps: 3 });
    const reference = Array.from(single.model.encoder.stateDict().get("conv1.weight")!.dataAsNumbers());
    // after backward in one bucket, and overlapped with backward in many small buckets
    for (const extra of [["dist.overlap=false"], ["dist.overlap=true", "dist.bucketMiB=0.01"]]) {
      const ranks = await onRanks<{ weights: number[]; globalStep: number }>(2, "pretrain", [tmp("sgd-two"), "3", ...set, ...extra]);
      for (const [rank, r] of ranks.entries()) {
        assert.equal(r.globalStep, 3);
        assert.ok(maxAbsDiff(r.weights, reference) < 1e-5, `${extra.join(" ")} rank ${rank}: conv1 weights differ by ${maxAbsDiff(r.weights, reference)}`);
      }
      assert.ok(maxAbsDiff(ranks[0]!.weights, ranks[1]!.weights) === 0, "the ranks hold the same weights");
    }
  });

  test("GradCache across 2 processes (train.chunkSize=32, per-process BN): the curve of one process with the same chunks (1e-4)", async () => {
    // One process chunks its 128 views [first views of 64 images; second views] into 4 x 32;
    // each rank chunks its 64 into 2 x 32: the same four sets of views, so the same BN
    // statistics, and the loss sees all 128 embeddings through the all-gather.
    const set = curveSet().concat(["train.chunkSize=32", "model.syncBN=false"]);
    const single = tmp("gc-one");
    await pretrain(single, loadConfig({ set }), { progress: quiet(), handleSignals: false, stopAfterSteps: 6 });
    const two = tmp("gc-two");
    const r = await runProcess([CLI, "pretrain", "--out", two, "--nproc", "2", ...set.flatMap((s) => ["--set", s])], {});
    assert.equal(r.code, 0, r.stderr);
    const a = losses(single);
    const b = new Map([...losses(two)].filter(([step]) => step <= 6));
    assert.equal(a.size, 6);
    assertSameCurve(a, b, 1e-4, "GradCache on 2 processes");
    assert.ok(
      maxAbsDiff(
        [...a.values()],
        [...losses(one)].filter(([s]) => s <= 6).map(([, v]) => v),
      ) > 0,
      "chunked BN differs from whole-batch BN (the test is not vacuous)",
    );
  });

  test("a 2-process run resumes with 1 process, and a 1-process run with 2: the curve continues as uninterrupted", async () => {
    const whole = one;
    // 2 -> 1: stop mid-epoch at step 5
    const a = tmp("two-then-one");
    const stopped = await onRanks<{ status: string; globalStep: number }>(2, "pretrain", [a, "5", ...curveSet()]);
    assert.equal(stopped[0]!.status, "stopped");
    assert.equal(stopped[0]!.globalStep, 5);
    await resume(a, { progress: quiet(), handleSignals: false });
    assertSameCurve(losses(whole), losses(a), 1e-4, "2 then 1 process");
    assert.equal(lossLines(a), 24, "one loss line per step after the resume");
    // 1 -> 2: stop at step 11
    const b = tmp("one-then-two");
    await pretrain(b, loadConfig({ set: curveSet() }), { progress: quiet(), handleSignals: false, stopAfterSteps: 11 });
    const finished = await onRanks<{ status: string; globalStep: number }>(2, "resume", [b, "0"]);
    assert.equal(finished[0]!.status, "finished");
    assertSameCurve(losses(whole), losses(b), 1e-4, "1 then 2 processes");
    assert.equal(lossLines(b), 24, "one loss line per step after the resume");
  });
});

describe("the launcher", () => {
  test("SIGINT to `--nproc 2` stops every worker at the same step with a checkpoint (exit 130); --resume --nproc 2 finishes", async () => {
    const data = writeSyntheticIdx(join(tmp("sigint-data"), "synthetic"), 512);
    const out = tmp("sigint");
    const set = syntheticSet(data, ["train.epochs=3", "monitor.knnEvery=0"]).flatMap((s) => ["--set", s]);
    let launcher = 0;
    const signaller = setInterval(() => {
      if (launcher !== 0 && losses(out).size >= 1) {
        process.kill(launcher, "SIGINT");
        clearInterval(signaller);
      }
    }, 100);
    const first = await runProcess([CLI, "pretrain", "--out", out, "--nproc", "2", ...set], {}, (pid) => (launcher = pid));
    clearInterval(signaller);
    assert.equal(first.code, 130, first.stderr);
    assert.match(first.stderr, /SIGINT: saving a checkpoint/);
    const steps = losses(out).size;
    assert.ok(steps < 24, `stopped after ${steps} of 24 steps`);
    const second = await runProcess([CLI, "pretrain", "--out", out, "--resume", "--nproc", "2"], {});
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /resuming .* on 2 processes/);
    assert.deepEqual(
      [...losses(out).keys()],
      Array.from({ length: 24 }, (_, i) => i + 1),
    );
  });
});

/**
 * torchrun of the engine under test: the project venv's (pip torch 2.13) when the addon was built
 * against it, else Debian's python3-torch (1.13). Agent and workers then share one c10d version.
 */
const torchrun = (
  BUILT_ENGINE.kind === "system" ? ["/usr/bin/torchrun", "/usr/local/bin/torchrun"] : [join(BUILT_ENGINE.prefix, "..", "..", "..", "..", "bin", "torchrun")]
).find((p) => existsSync(p));

/**
 * `simclr pretrain ARGS` on 2 processes under torchrun (`extra`: torchrun's own flags). --redirects/--tee 1:
 * Debian's torchrun 1.13 under Python 3.11 cannot parse their default 0.
 */
async function torchrunPretrain(args: string[], extra: string[] = [], onSpawn?: (pid: number) => void): Promise<Exit> {
  const flags = ["--no_python", "--nproc_per_node", "2", ...extra, "--master_port", String(await freePort()), "--redirects", "1", "--tee", "1"];
  return runProcess([...flags, process.execPath, CLI, "pretrain", ...args], {}, onSpawn, torchrun);
}

describe("torchrun", () => {
  test(
    "workers started by torchrun join its agent's store and train the one-process curve",
    { skip: torchrun === undefined ? "torchrun is not installed beside this engine (Debian: python3-torch; pip: the venv's bin/torchrun)" : false },
    async () => {
      const data = writeSyntheticIdx(join(tmp("torchrun-data"), "synthetic"), 512);
      const set = syntheticSet(data, ["train.epochs=1", "optim.lr=0.05", "monitor.knnEvery=0", "train.threads=1", "train.memoryFormat=contiguous"]); // NCHW: see the curves above
      const one = tmp("torchrun-one");
      await pretrain(one, loadConfig({ set }), { progress: quiet(), handleSignals: false });
      const out = tmp("torchrun");
      const r = await torchrunPretrain(["--out", out, ...set.flatMap((x) => ["--set", x])]);
      assert.equal(r.code, 0, r.stderr);
      assertSameCurve(losses(one), losses(out), 1e-4, "torchrun, 2 processes");
    },
  );
});

describe("torchrun restarts (--resume auto)", () => {
  test(
    "--max_restarts 1 with a worker SIGKILLed mid-epoch: the restarted job resumes and finishes exactly as an uninterrupted one",
    { skip: torchrun === undefined ? "torchrun is not installed beside this engine (Debian: python3-torch; pip: the venv's bin/torchrun)" : false },
    async () => {
      const data = writeSyntheticIdx(join(tmp("restart-data"), "synthetic"), 512);
      const set = syntheticSet(data, [
        "train.epochs=2",
        "optim.lr=0.05",
        "monitor.knnEvery=0",
        "train.threads=1",
        "train.memoryFormat=contiguous",
        "dist.timeout=5",
      ]);
      const job = (out: string, onSpawn?: (pid: number) => void) =>
        torchrunPretrain(["--out", out, "--resume", "auto", ...set.flatMap((x) => ["--set", x])], ["--max_restarts", "1"], onSpawn);
      const whole = tmp("restart-whole");
      const w = await job(whole);
      assert.equal(w.code, 0, w.stderr);
      const out = tmp("restart");
      let agent = 0;
      let killed = 0;
      const killer = setInterval(() => {
        // torchrun's workers are its children; kill one in epoch 2, after the epoch-1 checkpoint
        if (agent === 0 || killed !== 0 || !existsSync(`/proc/${agent}/task/${agent}/children`)) return;
        const children = readFileSync(`/proc/${agent}/task/${agent}/children`, "utf-8").trim().split(/\s+/).filter(Boolean);
        if (children.length === 2 && losses(out).size >= 11) {
          killed = Number(children[children.length - 1]);
          process.kill(killed, "SIGKILL");
          clearInterval(killer);
        }
      }, 100);
      const r = await job(out, (pid) => (agent = pid));
      clearInterval(killer);
      assert.notEqual(killed, 0, "a worker was killed");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /holds this run: resuming it/);
      assertSameCurve(losses(whole), losses(out), 0, "restarted vs uninterrupted torchrun");
      assert.equal(lossLines(out), losses(out).size, "no step logged twice");
      const final = (d: string) => readSafetensors(join(latestCheckpoint(d)!, "model.safetensors")).tensors;
      const [a, b] = [final(whole), final(out)];
      for (const [k, t] of a) assert.equal(maxAbsDiff(b.get(k)!.dataAsNumbers(), t.dataAsNumbers()), 0, k);
    },
  );
});

describe("faults", () => {
  test("a worker killed with SIGKILL: the launcher ends the job non-zero and names the rank", async () => {
    const data = writeSyntheticIdx(join(tmp("kill-data"), "synthetic"), 512);
    const out = tmp("kill");
    const set = syntheticSet(data, ["train.epochs=50", "monitor.knnEvery=0", "dist.timeout=5"]).flatMap((s) => ["--set", s]);
    let launcher = 0;
    const killer = setInterval(() => {
      // the workers are the launcher's children; kill the last one once training runs
      if (launcher === 0 || !existsSync(`/proc/${launcher}/task/${launcher}/children`)) return;
      const children = readFileSync(`/proc/${launcher}/task/${launcher}/children`, "utf-8").trim().split(/\s+/).filter(Boolean);
      const victim = children[children.length - 1];
      if (children.length === 2 && victim !== undefined && losses(out).size > 0) {
        process.kill(Number(victim), "SIGKILL");
        clearInterval(killer);
      }
    }, 200);
    const r = await runProcess([CLI, "pretrain", "--out", out, "--nproc", "2", ...set], {}, (pid) => (launcher = pid));
    clearInterval(killer);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /rank 1 \(pid \d+\) was killed by SIGKILL; ending the other workers/);
    assert.match(r.stderr, /the job failed: rank 1 was killed by SIGKILL/);
    assert.ok(r.seconds < 60, `the job took ${r.seconds} s to end`);
  });

  test("a launcher killed with SIGKILL takes its workers with it within seconds: they checkpoint, exit and release the lock", async () => {
    const data = writeSyntheticIdx(join(tmp("orphan-data"), "synthetic"), 512);
    const out = tmp("orphan");
    const set = syntheticSet(data, ["train.epochs=50", "monitor.knnEvery=0", "dist.timeout=5"]).flatMap((s) => ["--set", s]);
    let launcher = 0;
    let workers: number[] = [];
    let killedAt = 0;
    const killer = setInterval(() => {
      if (launcher === 0 || !existsSync(`/proc/${launcher}/task/${launcher}/children`)) return;
      const children = readFileSync(`/proc/${launcher}/task/${launcher}/children`, "utf-8").trim().split(/\s+/).filter(Boolean).map(Number);
      if (children.length === 2 && losses(out).size > 2) {
        workers = children;
        process.kill(launcher, "SIGKILL");
        killedAt = performance.now();
        clearInterval(killer);
      }
    }, 100);
    const r = await runProcess([CLI, "pretrain", "--out", out, "--nproc", "2", ...set], {}, (pid) => (launcher = pid));
    clearInterval(killer);
    assert.equal(r.signal, "SIGKILL");
    assert.equal(workers.length, 2);
    const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf-8"));
    while (workers.some(alive) && performance.now() - killedAt < 20_000) await new Promise((done) => setTimeout(done, 100));
    const seconds = (performance.now() - killedAt) / 1000;
    assert.ok(!workers.some(alive), `workers ${workers.filter(alive).join(", ")} outlived their launcher by ${seconds.toFixed(1)} s`);
    assert.ok(seconds < 10, `the workers took ${seconds.toFixed(1)} s to go`);
    assert.ok(!existsSync(join(out, ".lock")), "the run's lock is released");
    const lines = losses(out).size;
    await new Promise((done) => setTimeout(done, 1000));
    assert.equal(losses(out).size, lines, "nothing appends to metrics.jsonl any more");
    assert.ok(latestCheckpoint(out)?.includes("step-"), "they stopped with a checkpoint, as on SIGTERM");
  });

  test("a SIGSTOPped rank: the launcher names it; every rank's error is one line, no C++ backtrace, no internal error", async () => {
    const data = writeSyntheticIdx(join(tmp("stop-data"), "synthetic"), 512);
    const out = tmp("stopped");
    const set = syntheticSet(data, ["train.epochs=50", "monitor.knnEvery=0", "dist.timeout=3"]).flatMap((s) => ["--set", s]);
    let launcher = 0;
    let frozen = 0;
    const stopper = setInterval(() => {
      if (launcher === 0 || !existsSync(`/proc/${launcher}/task/${launcher}/children`)) return;
      const children = readFileSync(`/proc/${launcher}/task/${launcher}/children`, "utf-8").trim().split(/\s+/).filter(Boolean).map(Number);
      if (children.length === 2 && losses(out).size > 2) {
        frozen = children[1]!;
        process.kill(frozen, "SIGSTOP");
        clearInterval(stopper);
      }
    }, 100);
    const r = await runProcess([CLI, "pretrain", "--out", out, "--nproc", "2", ...set], {}, (pid) => (launcher = pid));
    clearInterval(stopper);
    assert.notEqual(frozen, 0);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`rank 1 \\(pid ${frozen}\\) is stopped \\(SIGSTOP or Ctrl-Z\\): the rank the others waited for`));
    assert.match(
      r.stderr,
      /the job failed: rank 1 was stopped \(SIGSTOP or Ctrl-Z\) and rank 0, waiting for it, exited with status 1 \[ERR_SIMCLR_DISTRIBUTED\]/,
    );
    assert.match(r.stderr, /^simclr: .*on rank 0 of 2 failed or timed out after 3000 ms.* \[ERR_SIMCLR_DISTRIBUTED\]$/m);
    assert.doesNotMatch(r.stderr, /frame #|Exception raised from|internal error| {4}at /);
    assert.ok(r.seconds < 40, `the job took ${r.seconds} s to end`);
  });

  test("a --nproc 2 launch refused for a bad config leaves no run directory behind", async () => {
    const data = writeSyntheticIdx(join(tmp("refused-data"), "synthetic"), 512);
    const parent = tmp("refused");
    const odd = await runProcess(
      [CLI, "pretrain", "--out", join(parent, "odd"), "--nproc", "2", ...syntheticSet(data, ["train.batchSize=65"]).flatMap((s) => ["--set", s])],
      {},
    );
    assert.equal(odd.code, 2, odd.stderr);
    assert.match(odd.stderr, /train\.batchSize 65 \(the global batch\) does not divide among 2 processes/);
    const missing = await runProcess(
      [CLI, "pretrain", "--out", join(parent, "missing"), "--nproc", "2", ...syntheticSet(join(parent, "nowhere")).flatMap((s) => ["--set", s])],
      {},
    );
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /nowhere/);
    assert.deepEqual(readdirSync(parent), [], "neither launch left a run directory");
  });

  test("a rank whose peer dies exits non-zero within dist.timeout, naming itself", async () => {
    const port = await freePort();
    const data = writeSyntheticIdx(join(tmp("peer-data"), "synthetic"), 512);
    const out = tmp("peer");
    const set = syntheticSet(data, ["train.epochs=50", "monitor.knnEvery=0", "dist.timeout=3"]).flatMap((s) => ["--set", s]);
    const env = (rank: number) => ({
      RANK: String(rank),
      WORLD_SIZE: "2",
      LOCAL_RANK: String(rank),
      LOCAL_WORLD_SIZE: "2",
      MASTER_ADDR: "127.0.0.1",
      MASTER_PORT: String(port),
    });
    let victim = 0;
    const survivor = runProcess([CLI, "pretrain", "--out", out, ...set], env(0));
    const doomed = runProcess([CLI, "pretrain", "--out", out, ...set], env(1), (pid) => (victim = pid));
    const killer = setInterval(() => {
      if (losses(out).size > 2) {
        process.kill(victim, "SIGKILL");
        clearInterval(killer);
      }
    }, 100);
    const [r] = await Promise.all([survivor, doomed]);
    clearInterval(killer);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /on rank 0 of 2/);
    assert.ok(r.seconds < 40, `rank 0 took ${r.seconds} s to give up`);
  });

  test("ranks started with different configs, and a port in use, are clear errors", async () => {
    const port = await freePort();
    const data = writeSyntheticIdx(join(tmp("cfg-data"), "synthetic"), 512);
    const out = tmp("cfg");
    const env = (rank: number) => ({
      RANK: String(rank),
      WORLD_SIZE: "2",
      LOCAL_RANK: String(rank),
      LOCAL_WORLD_SIZE: "2",
      MASTER_ADDR: "127.0.0.1",
      MASTER_PORT: String(port),
    });
    const set = (width: number) => syntheticSet(data, [`model.width=${width}`, "dist.timeout=10"]).flatMap((s) => ["--set", s]);
    const [r0, r1] = await Promise.all([
      runProcess([CLI, "pretrain", "--out", out, ...set(4)], env(0)),
      runProcess([CLI, "pretrain", "--out", out, ...set(8)], env(1)),
    ]);
    assert.equal(r0.code, 1);
    assert.match(r0.stderr, /rank\(s\) 1 resolved a different config from rank 0's/);
    assert.notEqual(r1.code, 0);

    const { createServer } = await import("node:net");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    try {
      const taken = await runProcess([CLI, "pretrain", "--out", tmp("taken"), ...set(4)], env(0));
      assert.equal(taken.code, 1);
      assert.match(taken.stderr, new RegExp(`rank 0 of 2 could not join the process group at 127.0.0.1:${port}`));
    } finally {
      server.close();
    }
    const odd = await runProcess(
      [CLI, "pretrain", "--out", tmp("odd"), "--nproc", "2", ...syntheticSet(data, ["train.batchSize=63"]).flatMap((s) => ["--set", s])],
      {},
    );
    assert.notEqual(odd.code, 0);
    assert.match(odd.stderr, /train.batchSize 63 \(the global batch\) does not divide among 2 processes/);
  });
});
