/**
 * The guarded run directory (issue 12, group 1): one writer at a time (DIR/.lock), a stale lock
 * taken over, a directory holding a run refused unless resumed or replaced with --force (which
 * moves the old run aside), and leftovers of dead writers cleaned at start.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { CheckpointError, ProgressReporter, RunLockedError, StoppedError, loadConfig, pretrain, resume } from "../../src/index.js";
import { CLI, runCli, collecting } from "../helpers.js";
import { writePngFolder } from "../search/fixture.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-${name}-`));
const messages: string[] = [];
const quiet = () => collecting(messages);

/** Every file under `dir` with its sha256, for byte-for-byte comparisons. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[p.slice(dir.length)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf-8" });
  return Number(r.stdout);
}

describe("the run directory is guarded", () => {
  let data = "";
  let config: ReturnType<typeof loadConfig>;
  before(() => {
    data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
    config = loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0"]) });
  });

  test("two pretrains on one directory: the second is refused naming the first's pid; the first finishes cleanly", async () => {
    const out = join(tmp("race"), "run");
    const args = [CLI, "pretrain", "--out", out, ...syntheticSet(data, ["train.epochs=3", "monitor.knnEvery=0"]).flatMap((s) => ["--set", s])];
    const first = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    let firstErr = "";
    first.stderr.on("data", (c: Buffer) => (firstErr += c.toString()));
    const done = new Promise<number>((resolve) => first.on("exit", (code) => resolve(code ?? -1)));
    while (!existsSync(join(out, ".lock"))) await new Promise((r) => setTimeout(r, 20));
    const second = await runCli(["pretrain", "--out", out, ...syntheticSet(data, ["train.epochs=1"]).flatMap((s) => ["--set", s])]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`is in use by pid ${first.pid} on this host since .*\\.lock\\): wait for it to finish`));
    assert.equal(await done, 0, firstErr);
    assert.ok(!existsSync(join(out, ".lock")), "the lock is released at the end");
    const steps = readFileSync(join(out, "metrics.jsonl"), "utf-8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { step: number; epoch_loss?: number });
    const stepLines = steps.filter((l) => l.epoch_loss === undefined).map((l) => l.step);
    assert.deepEqual(
      stepLines,
      Array.from({ length: stepLines.length }, (_, i) => i + 1),
      "no interleaved or repeated steps",
    );
    assert.equal(steps.filter((l) => l.epoch_loss !== undefined).length, 3);
  });

  test("a stale lock (its process is gone) is taken over; another host's lock is refused naming the host", async () => {
    const out = join(tmp("stale"), "run");
    mkdirSync(out, { recursive: true });
    const pid = deadPid();
    writeFileSync(join(out, ".lock"), JSON.stringify({ pid, host: hostname(), since: "2026-01-01T00:00:00Z" }));
    messages.length = 0;
    const { model } = await pretrain(out, config, { progress: quiet(), handleSignals: false });
    model.dispose();
    assert.ok(
      messages.some((m) => m.includes(`from pid ${pid}, which is gone`)),
      messages.join(""),
    );
    assert.ok(!existsSync(join(out, ".lock")));

    writeFileSync(join(out, ".lock"), JSON.stringify({ pid: 1, host: "other-machine", since: "2026-01-01T00:00:00Z" }));
    await assert.rejects(
      resume(out, { progress: quiet(), handleSignals: false }),
      (e: unknown) => e instanceof RunLockedError && /locked by pid 1 on host other-machine/.test(e.message),
    );
    assert.equal(JSON.parse(readFileSync(join(out, ".lock"), "utf-8")).host, "other-machine", "another's lock is left alone");
  });

  test("a directory that holds a run is refused without --resume, byte for byte unchanged, even with its latest pointer broken", async () => {
    const out = join(tmp("held"), "run");
    const { model } = await pretrain(out, config, { progress: quiet(), handleSignals: false });
    model.dispose();
    for (const breakIt of [() => writeFileSync(join(out, "checkpoints", "latest"), "garbage\n"), () => rmSync(join(out, "checkpoints", "latest"))]) {
      breakIt();
      const before = snapshot(out);
      await assert.rejects(
        pretrain(out, config, { progress: quiet(), handleSignals: false }),
        (e: unknown) => e instanceof CheckpointError && /already holds a run \(config\.yaml, metrics\.jsonl, checkpoints/.test(e.message),
      );
      const r = await runCli(["pretrain", "--out", out, ...syntheticSet(data, ["train.epochs=1"]).flatMap((s) => ["--set", s])]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--force moves the old run aside/);
      assert.deepEqual(snapshot(out), before);
    }
  });

  test("--force moves the old run aside and starts afresh; --resume with --force is a usage error", async () => {
    const out = join(tmp("force"), "run");
    const { model } = await pretrain(out, config, { progress: quiet(), handleSignals: false });
    model.dispose();
    const before = snapshot(out);
    const r = await runCli(["pretrain", "--out", out, "--force", ...syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0"]).flatMap((s) => ["--set", s])]);
    assert.equal(r.code, 0, r.stderr);
    const aside = readdirSync(join(out, "..")).filter((n) => n.startsWith("run.replaced-"));
    assert.equal(aside.length, 1);
    const moved = snapshot(join(out, "..", aside[0]!));
    assert.deepEqual(moved, before, "the old run, every file as it was");
    assert.ok(existsSync(join(out, "checkpoints", "latest")));
    const both = await runCli(["pretrain", "--out", out, "--resume", "--force"]);
    assert.equal(both.code, 2);
  });

  test("a start that failed before its first step does not block the retry; train.threads beyond 4 per core is refused before anything is written", async () => {
    const out = join(tmp("failed-start"), "run");
    const bad = await runCli(["pretrain", "--out", out, "--set", "data.name=image-folder", "--set", `data.path=${join(out, "..", "nope")}`]);
    assert.equal(bad.code, 1);
    assert.ok(!existsSync(out), "a start that fails before training removes what it wrote");
    // what a start killed before its first step leaves (config.yaml, an empty metrics.jsonl) does not block the retry
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "config.yaml"), "train:\n  epochs: 1\n");
    writeFileSync(join(out, "metrics.jsonl"), "");
    const retry = await runCli(["pretrain", "--out", out, ...syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0"]).flatMap((s) => ["--set", s])]);
    assert.equal(retry.code, 0, retry.stderr);
    const threads = join(tmp("threads"), "run");
    const r = await runCli(["pretrain", "--out", threads, "--set", "train.threads=100000", ...syntheticSet(data).flatMap((s) => ["--set", s])]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /train\.threads is 100000, more than 4 per core of this machine's \d+ \(at most \d+\)/);
    assert.ok(!existsSync(threads));
  });

  test("a --force start that fails before training puts the run it moved aside back", async () => {
    const out = join(tmp("force-fails"), "run");
    const { model } = await pretrain(out, config, { progress: quiet(), handleSignals: false });
    model.dispose();
    const before = readdirSync(out).sort();
    const r = await runCli(["pretrain", "--out", out, "--force", "--set", "data.name=image-folder", "--set", `data.path=${join(out, "..", "nope")}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /moved the previous run back from .*\.replaced-/);
    assert.deepEqual(readdirSync(out).sort(), before, "the old run is where it was");
    assert.deepEqual(
      readdirSync(join(out, "..")).filter((n) => n.includes(".replaced-")),
      [],
      "no aside folder left",
    );
  });

  test("SIGTERM while the images load undoes the start: StoppedError, the directory as it was (a --force start's old run back), no cache entry", async () => {
    const images = await writePngFolder(writeSyntheticIdx(join(tmp("stop-src"), "synthetic"), 1024), 256);
    const set = [
      "data.name=image-folder",
      `data.path=${images}`,
      "data.size=28",
      "data.channels=1",
      "model.width=4",
      "train.batchSize=64",
      "train.epochs=1",
      "monitor.knnEvery=0",
    ];
    const cache = tmp("stop-cache");
    const saved = process.env.SIMCLR_CACHE_DIR;
    process.env.SIMCLR_CACHE_DIR = cache;
    try {
      const lines: string[] = [];
      // a real SIGTERM to this process, at the first image: pretrain's handler holds it
      const progress = () =>
        ProgressReporter.lines((l) => {
          lines.push(l);
          if (l.startsWith("decoding images: 1/")) process.kill(process.pid, "SIGTERM");
        }, 1_000_000);
      const parent = tmp("stopped-start");
      const out = join(parent, "run");
      await assert.rejects(
        pretrain(out, loadConfig({ set }), { progress: progress() }),
        (e: Error) => e instanceof StoppedError && e.signal === "SIGTERM" && /^stopped by SIGTERM before training began: nothing was written/.test(e.message),
      );
      assert.ok(lines.includes("SIGTERM: stopping before training begins"), lines.join("\n"));
      assert.ok(!lines.some((l) => /decoding images: 256\/256/.test(l)), "the load stopped");
      assert.deepEqual(readdirSync(parent), [], "no run directory");
      assert.deepEqual(readdirSync(cache), [], "no cache entry, temporary or lock");
      assert.deepEqual(process.listeners("SIGTERM").length, 0, "the handlers are gone with the call");

      // --force over a run: the run it moved aside comes back
      const { model } = await pretrain(out, config, { progress: quiet(), handleSignals: false });
      model.dispose();
      const before = snapshot(out);
      await assert.rejects(pretrain(out, loadConfig({ set }), { progress: progress(), force: true }), StoppedError);
      assert.deepEqual(snapshot(out), before, "the old run, every file as it was");
      assert.deepEqual(readdirSync(parent), ["run"]);
    } finally {
      if (saved === undefined) delete process.env.SIMCLR_CACHE_DIR;
      else process.env.SIMCLR_CACHE_DIR = saved;
    }
  });

  test("simclr pretrain stopped with SIGTERM while its images load exits 130 in one line and leaves nothing", async () => {
    const images = await writePngFolder(writeSyntheticIdx(join(tmp("stop-cli-src"), "synthetic"), 1024), 256);
    const parent = tmp("stop-cli");
    const out = join(parent, "run");
    const set = ["data.name=image-folder", `data.path=${images}`, "data.size=28", "data.channels=1", "model.width=4", "train.batchSize=64", "train.epochs=1"];
    const child = spawn(process.execPath, [CLI, "pretrain", "--out", out, ...set.flatMap((s) => ["--set", s])], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, SIMCLR_CACHE_DIR: join(parent, "..", `${parent.split("/").pop()}-cache`) },
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
      if (/decoding images: \d+\//.test(stderr) && !child.killed) child.kill("SIGTERM");
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /SIGTERM: stopping before training begins/);
    assert.match(stderr, /simclr: stopped by SIGTERM before training began: nothing was written \(.*run is not there\) \[ERR_SIMCLR_STOPPED\]/);
    assert.doesNotMatch(stderr, /internal error/);
    assert.deepEqual(readdirSync(parent), []);
  });

  test("leftovers of a writer that died mid-write are removed at the next start", async () => {
    const out = join(tmp("leftovers"), "run");
    const { model } = await pretrain(out, config, { progress: quiet(), handleSignals: false });
    model.dispose();
    mkdirSync(join(out, "checkpoints", ".tmp-epoch-0002-99999"));
    writeFileSync(join(out, "checkpoints", ".tmp-epoch-0002-99999", "model.safetensors"), "partial");
    writeFileSync(join(out, "config.yaml.tmp-4242-abc123"), "partial");
    messages.length = 0;
    const r = await resume(out, { progress: quiet(), handleSignals: false });
    r.model.dispose();
    assert.ok(!existsSync(join(out, "checkpoints", ".tmp-epoch-0002-99999")));
    assert.ok(!existsSync(join(out, "config.yaml.tmp-4242-abc123")));
    assert.ok(messages.some((m) => m.includes("left by a writer that stopped mid-write")));
  });
});
