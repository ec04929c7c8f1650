/**
 * `simclr ablate` end to end on a reduced study (synthetic 28x28 data, 2 arms x 2 seeds, a
 * tiny budget): no scientific claim, only the machinery. A study killed mid-run and resumed
 * gives the results of one never interrupted; the gates are computed from those results; a
 * second study in the same folder is refused while the first holds its lock; a rerun skips
 * finished runs; a changed plan is refused.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ablate, planRuns, readStudyRuns, studyFiles } from "../../src/jobs/ablate.js";
import { parsePlan } from "../../src/jobs/ablate-plan.js";
import { evaluateGate, type StudyRun } from "../../src/eval/study.js";
import { CLI, quiet, runCli } from "../helpers.js";
import { writeSyntheticIdx } from "../synthetic.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-${name}-`));

function planText(data: string, extra = ""): string {
  return `name: reduced
description: "2 arms x 2 seeds on synthetic data: the machinery, no claim"
base:
  data.name: mnist
  data.path: ${JSON.stringify(data)}
  model.width: 4
  train.batchSize: 64
  train.budgetViews: 1280
  train.warmupFraction: 0.1
  train.logEvery: 1
  monitor.knnEvery: 0
  monitor.linearProbe: false
  eval.maxIterations: 30
seeds: [0, 1]
evaluation: { features: [h, z], linear: true, knn: [5, 50] }
baselines: { randomInit: [0, 1], rawPixels: true }
default: full
arms:
  - { id: full, label: "the default", block: head }
  - { id: nohead, label: "no head", block: head, set: { head.layers: 0 } }
gates:
  - { id: R0, check: "full vs random init", a: full, b: random-init, minMean: -100, agree: knn50_h }
  - { id: R1, check: "h vs z", a: full, b: full, metric: linear_h, bMetric: linear_z, minMean: 1000, agree: none }
${extra}`;
}

/** The results without their timings (wall seconds and throughput differ between runs). */
const comparable = (runs: StudyRun[]) => runs.map(({ arm, seed, metrics, views }) => ({ arm, seed, metrics, views }));

describe("simclr ablate: a reduced study end to end", () => {
  const data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 320);

  test("killed mid-run and rerun, it finishes with the results of an uninterrupted study; gates from the results", async () => {
    const text = planText(data);
    const plan = parsePlan(text, "plan.yaml");
    const straight = tmp("straight");
    const r = await ablate(straight, plan, text, { progress: quiet(), handleSignals: false });
    assert.equal(r.status, "finished");
    assert.equal(r.summary.done, 7, "2 random inits, raw pixels, 2 arms x 2 seeds");
    const runs = readStudyRuns(straight);
    assert.deepEqual(
      runs.map((x) => `${x.arm}:${x.seed}`),
      ["random-init:0", "random-init:1", "raw-pixels:null", "full:0", "nohead:0", "full:1", "nohead:1"],
      "baselines first, then the arms interleaved across seeds",
    );
    for (const x of runs.filter((x) => x.views > 0)) {
      assert.equal(x.views, 10 * 128, "1280 views at batch 64 is 10 steps");
      for (const m of ["linear_h", "linear_z", "knn5_h", "knn50_h", "knn5_z", "knn50_z", "contrastive_acc", "loss"])
        assert.equal(typeof x.metrics[m], "number", `${x.arm} ${m}`);
    }
    const nohead = runs.find((x) => x.arm === "nohead")!;
    assert.equal(nohead.metrics.linear_h, nohead.metrics.linear_z, "no head: z is h");
    // the summary's gates are the gate function applied to the results
    const summary = JSON.parse(readFileSync(studyFiles(straight).summary, "utf-8"));
    const seedsOf = (arm: string) => (arm === "raw-pixels" ? [null] : [0, 1]);
    for (const g of plan.gates)
      assert.deepEqual(
        summary.gates.find((s: { id: string }) => s.id === g.id),
        JSON.parse(JSON.stringify(evaluateGate(g, runs, seedsOf))),
      );
    const r0 = summary.gates[0];
    assert.equal(r0.verdict, "pass");
    const expected = [0, 1].map((s) => {
      const a = runs.find((x) => x.arm === "full" && x.seed === s)!.metrics.linear_h! * 100;
      const b = runs.find((x) => x.arm === "random-init" && x.seed === s)!.metrics.linear_h! * 100;
      return a - b;
    });
    assert.ok(Math.abs(r0.mean - (expected[0]! + expected[1]!) / 2) < 1e-9);
    assert.equal(summary.gates[1].verdict, "fail", "a threshold of 1000 points cannot pass");
    assert.match(summary.gates[1].reason, /mean -?\d+\.\d\d < 1000/);

    // the same study through the CLI, killed (SIGKILL) once the first arm has a checkpoint
    const killed = tmp("killed");
    const planFile = join(tmp("plan"), "plan.yaml");
    writeFileSync(planFile, text);
    const child = spawn(process.execPath, [CLI, "ablate", "--plan", planFile, "--out", killed], { stdio: "ignore" });
    const firstArm = join(killed, "runs", "full-s0", "checkpoints");
    const exited = new Promise((resolve) => child.on("exit", resolve));
    while (!(existsSync(firstArm) && readdirSync(firstArm).some((f) => f.startsWith("epoch-")))) {
      assert.equal(child.exitCode, null, "the study ended before it could be killed");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // while it runs, a second study in the same folder is refused: the folder is locked
    await assert.rejects(
      ablate(killed, plan, text, { progress: quiet(), handleSignals: false }),
      (e: Error & { code?: string }) => e.code === "ERR_SIMCLR_RUN_LOCKED" && /pid \d+/.test(e.message),
    );
    child.kill("SIGKILL");
    await exited;
    const before = readStudyRuns(killed);
    assert.ok(before.length < 7, `killed after ${before.length} runs`);
    const rerun = await runCli(["ablate", "--plan", planFile, "--out", killed]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual(comparable(readStudyRuns(killed)), comparable(runs), "kill + rerun = the uninterrupted study");
    assert.match(rerun.stdout, /"runs":"7\/7"/);

    // a rerun of a finished study does nothing; another plan in the same folder is refused
    const again = await runCli(["ablate", "--plan", planFile, "--out", killed]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /views;/, "no run started");
    writeFileSync(planFile, planText(data).replace("minMean: 1000", "minMean: 999"));
    const other = await runCli(["ablate", "--plan", planFile, "--out", killed]);
    assert.equal(other.code, 2, "a config error is a usage error");
    assert.match(other.stderr, /holds a study of another plan/);

    // the report renders the study (the page itself is checked in test/report/report.test.ts)
    const page = join(tmp("page"), "ablate.html");
    const md = join(tmp("page"), "ablate.md");
    const rep = await runCli(["ablate", "report", killed, "--out", page, "--markdown", md]);
    assert.equal(rep.code, 0, rep.stderr);
    assert.match(readFileSync(page, "utf-8"), /R0[\s\S]*pass/);
    const tables = readFileSync(md, "utf-8");
    assert.match(tables, /#### Gates\n\n\| gate \| check \| verdict/);
    assert.match(tables, /\| R0 \| full vs random init \| pass \|/);
    assert.match(tables, /\| R1 \| h vs z \| fail \|/);
    assert.match(tables, /#### Projection heads \(Figure 8\)/);
  });

  test("stopAfterSteps stops the study inside a run; the next call continues it", async () => {
    const text = planText(data);
    const plan = parsePlan(text, "plan.yaml");
    const out = tmp("stopped");
    const first = await ablate(out, plan, text, { progress: quiet(), handleSignals: false, stopAfterSteps: 4 });
    assert.equal(first.status, "stopped");
    assert.equal(first.summary.done, 3, "the baselines finished, the first arm stopped at step 4");
    const second = await ablate(out, plan, text, { progress: quiet(), handleSignals: false });
    assert.equal(second.status, "finished");
    assert.equal(second.summary.done, 7);
  });

  test("a diverged arm is recorded as failed, the study goes on, and the gates that need it fail", async () => {
    const text = planText(data, "").replace(
      '  - { id: nohead, label: "no head", block: head, set: { head.layers: 0 } }',
      '  - { id: nohead, label: "diverges", block: head, seeds: [0], set: { optim.name: sgd, optim.lr: 1000, loss.normalize: false, loss.temperature: 1.0e-6 } }',
    );
    const plan = parsePlan(text.replace("baselines: { randomInit: [0, 1], rawPixels: true }", "baselines: { randomInit: [0], rawPixels: false }"), "plan.yaml");
    plan.gates.push({ id: "R2", check: "full vs the diverged arm", a: "full", b: "nohead", minMean: -100 });
    const out = tmp("diverged");
    const r = await ablate(out, plan, text, { progress: quiet(), handleSignals: false });
    assert.equal(r.status, "finished");
    const boom = readStudyRuns(out).find((x) => x.arm === "nohead")!;
    assert.match(boom.failed ?? "", /^diverged at step \d+$/);
    assert.deepEqual(boom.metrics, {});
    const g = r.summary.gates.find((x) => x.id === "R2")!;
    assert.equal(g.verdict, "fail");
    assert.match(g.reason, /a run it needs failed \(nohead seed 0: diverged at step \d+\)/);
    assert.ok(
      readStudyRuns(out).some((x) => x.arm === "full" && x.seed === 1),
      "the runs after it ran",
    );
  });

  test("bad plans are errors that name the file and the place", () => {
    const bad: [string, RegExp][] = [
      [planText(data).replace("head.layers: 0", "head.layer: 0"), /plan\.yaml: arms\[1\]\.set\.head\.layer is not a config key/],
      [planText(data).replace("head.layers: 0", "head.layers: -1"), /arm nohead: head\.layers must be >= 0, got -1/],
      [planText(data).replace("b: random-init", "b: A9"), /gates\[0\]\.b names no arm or baseline of this plan: 'A9'/],
      [planText(data).replace("seeds: [0, 1]", "seeds: [0, 0]"), /seeds repeats a seed/],
      [planText(data).replace("id: nohead", "id: full"), /arms repeat the id 'full'/],
      [planText(data).replace("default: full", "default: nope"), /default names no arm of this plan: 'nope'/],
      [planText(data).replace("minMean: -100", "minMean: lots"), /gates\[0\]\.minMean must be a number of points/],
      ["name: x\narms: []\n", /arms must be a non-empty list/],
      ["- just a list\n", /the plan must be a mapping/],
    ];
    for (const [text, pattern] of bad) assert.throws(() => parsePlan(text, "plan.yaml"), pattern);
  });
});

describe("the shipped plans", () => {
  const examples = join(CLI, "..", "..", "..", "..", "examples");
  const load = (name: string) => parsePlan(readFileSync(join(examples, name), "utf-8"), name);

  test("ablate-cifar10.yaml is SCIENCE.md's core blocks: 22U of pretraining, gates G0-G7", () => {
    const plan = load("ablate-cifar10.yaml");
    const runs = planRuns(plan).filter((r) => r.kind === "pretrain");
    const units = runs.reduce((s, r) => s + r.config.train.budgetViews! / 600_000, 0);
    assert.equal(units, 22, "A 9U + C 5U + D 4U + E 4U");
    assert.deepEqual(
      plan.gates.map((g) => g.id),
      ["G0", "G1", "G2", "G3", "G4", "G4b", "G5", "G6", "G7"],
    );
    assert.deepEqual(
      plan.gates.filter((g) => g.soft).map((g) => g.id),
      ["G4b", "G5", "G6"],
    );
    const a1 = runs.find((r) => r.arm === "A1")!.config;
    assert.equal(a1.data.name, "cifar10-jpg");
    assert.equal(a1.model.width, 16);
    assert.equal(a1.loss.temperature, 0.5);
    assert.equal(a1.train.warmupFraction, 0.05);
    assert.equal(a1.augment.preset, "cifar");
    assert.equal(runs.find((r) => r.arm === "A2")!.config.augment.color, false);
    assert.equal(runs.find((r) => r.arm === "A3")!.config.augment.crop, false);
    assert.equal(runs.find((r) => r.arm === "C-none")!.config.head.layers, 0);
    assert.equal(runs.find((r) => r.arm === "D-nol2")!.config.loss.normalize, false);
    // interleaved across seeds: every arm at seed 0 before any at seed 1
    const order = runs.map((r) => r.seed!);
    assert.deepEqual(order.slice(0, 8), [0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test("the pilot, the extension and the quick plan parse", () => {
    const pilot = planRuns(load("ablate-cifar10-pilot.yaml"));
    assert.equal(pilot.filter((r) => r.kind === "pretrain").length, 4);
    const quick = load("ablate-fmnist-quick.yaml");
    assert.equal(quick.base["data.name"], "fashion-mnist");
    assert.equal(planRuns(quick).filter((r) => r.kind === "pretrain").length, 6, "3 arms x 2 seeds");
    const extension = planRuns(load("ablate-cifar10-extension.yaml"));
    assert.equal(extension.filter((r) => r.kind === "supervised").length, 4);
    const b512 = extension.find((r) => r.arm === "B-512-U")!.config;
    assert.equal(b512.optim.lrScaling, "sqrt");
    assert.equal(b512.optim.lr * Math.sqrt(256), load("ablate-cifar10.yaml").base["optim.lr"], "sqrt scaling at batch 256 is the core's lr");
  });
});
