/**
 * Distillation (simclr distill, distill-step.ts), both modes: the losses against
 * a slow reference, no gradient reaches the teacher, a student's loss falls and its cosine to
 * the teacher rises on synthetic data, a resumed distillation equals an uninterrupted one; a
 * label-distilled student (SimCLRv2's defaults, the user's settings winning) scored by eval head
 * as its head's argmax counted by hand; and the command's errors name the key.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import {
  ConfigError,
  DataError,
  evaluateHead,
  evaluationConfig,
  latestCheckpoint,
  loadConfig,
  loadEncoder,
  noGrad,
  pretrain,
  randn,
  resume,
  tensor,
  tidy,
  toUnitFloat,
} from "../../src/index.js";
import { labelledSplits } from "../../src/jobs/labelled-splits.js";
import { distillationLoss, softLabelLoss } from "../../src/train/distill-step.js";
import { lossCurve, quiet, runCli } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";
import { writePngFolder } from "../search/fixture.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-distill-${name}-`));
const opts = () => ({ progress: quiet(), handleSignals: false });

describe("distillation loss", () => {
  test("cosine and mse losses, and the mean cosine, equal a slow reference; gradients reach the student only", () => {
    const [n, d] = [6, 5];
    const zData = Array.from({ length: n * d }, (_, i) => Math.sin(i * 1.7) + 0.1 * i);
    const tData = Array.from({ length: n * d }, (_, i) => Math.cos(i * 0.9) - (i % 3));
    const rows = (a: number[]) => Array.from({ length: n }, (_, i) => a.slice(i * d, (i + 1) * d));
    const unit = (v: number[]) => {
      const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
      return v.map((x) => x / s);
    };
    const [zs, ts] = [rows(zData).map(unit), rows(tData).map(unit)];
    const dot = (a: number[], b: number[]) => a.reduce((s, x, j) => s + x * b[j]!, 0);
    const cosine = zs.reduce((s, z, i) => s + 1 - dot(z, ts[i]!), 0) / n;
    const mse = zs.reduce((s, z, i) => s + z.reduce((a, x, j) => a + (x - ts[i]![j]!) ** 2, 0), 0) / (n * d);
    const meanCos = zs.reduce((s, z, i) => s + dot(z, ts[i]!), 0) / n;

    const z = tensor(Float32Array.from(zData), { shape: [n, d] }).requiresGrad_();
    const t = tensor(Float32Array.from(tData), { shape: [n, d] });
    const c = distillationLoss(z, t, "cosine");
    assert.ok(Math.abs(c.loss.item() - cosine) < 1e-6, `${c.loss.item()} vs ${cosine}`);
    assert.ok(Math.abs(c.cosine - meanCos) < 1e-6);
    const m = distillationLoss(z, t, "mse");
    assert.ok(Math.abs(m.loss.item() - mse) < 1e-6, `${m.loss.item()} vs ${mse}`);
    c.loss.backward();
    assert.ok(z.grad !== null && z.grad.abs().sum().item() > 0);
    assert.equal(t.grad, null, "the teacher's features take no gradient");
    // a student that already matches: loss 0, cosine 1
    const same = distillationLoss(t, t, "cosine");
    assert.ok(Math.abs(same.loss.item()) < 1e-6);
    assert.ok(Math.abs(same.cosine - 1) < 1e-6);
    assert.throws(() => distillationLoss(randn([4, 3]), randn([4, 5]), "cosine"), /must both be \(N, D\)/);
  });
});

describe("label distillation loss (SimCLRv2 eq. 4)", () => {
  test("the soft cross-entropy at temperature tau and the argmax agreement equal a slow reference; the teacher takes no gradient", () => {
    const [n, k] = [5, 4];
    const zData = Array.from({ length: n * k }, (_, i) => Math.sin(i * 2.3) * 2);
    const tData = Array.from({ length: n * k }, (_, i) => Math.cos(i * 1.1) * 3 + (i % k === 2 ? 1 : 0));
    const softmax = (v: number[]) => {
      const m = Math.max(...v);
      const e = v.map((x) => Math.exp(x - m));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / s);
    };
    for (const tau of [1, 0.5, 4]) {
      let want = 0;
      let agree = 0;
      for (let i = 0; i < n; i++) {
        const z = zData.slice(i * k, (i + 1) * k);
        const t = tData.slice(i * k, (i + 1) * k);
        const p = softmax(t.map((x) => x / tau));
        const q = softmax(z.map((x) => x / tau));
        want -= p.reduce((a, pj, j) => a + pj * Math.log(q[j]!), 0) / n;
        if (z.indexOf(Math.max(...z)) === t.indexOf(Math.max(...t))) agree++;
      }
      const z = tensor(Float32Array.from(zData), { shape: [n, k] }).requiresGrad_();
      const t = tensor(Float32Array.from(tData), { shape: [n, k] }).requiresGrad_();
      const out = softLabelLoss(z, t, tau);
      assert.ok(Math.abs(out.loss.item() - want) < 1e-5, `tau ${tau}: ${out.loss.item()} vs ${want}`);
      assert.ok(Math.abs(out.agreement - agree / n) < 1e-6, `agreement ${out.agreement} vs ${agree / n}`);
      out.loss.backward();
      assert.ok(z.grad !== null && z.grad.abs().sum().item() > 0);
      assert.equal(t.grad, null, "the teacher's logits take no gradient");
    }
    assert.throws(() => softLabelLoss(randn([3, 4]), randn([3, 5]), 1), /logits must both be \(N, K\)/);
    assert.throws(() => softLabelLoss(randn([3, 4]), randn([3, 4]), 0), /temperature must be > 0/);
  });
});

describe("simclr distill", () => {
  let data = "";
  let teacher = "";
  before(async () => {
    data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 256);
    teacher = tmp("teacher");
    (await pretrain(teacher, loadConfig({ set: syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0", "model.width=8"]) }), opts())).model.dispose();
  });
  // the student: ResNet-18 at width 4 (h of 32) with a projection to the teacher's 64
  const student = (extra: string[] = []) =>
    loadConfig({ set: syntheticSet(data, ["train.epochs=10", "monitor.knnEvery=0", `distill.teacher=${teacher}`, "head.outDim=64", "optim.lr=4", ...extra]) });

  test("a student learns the teacher's h: the loss falls, its cosine to the teacher rises, teacher.json names the teacher", async () => {
    const run = tmp("student");
    const r = await pretrain(run, student(), opts());
    r.model.dispose();
    const lines = readFileSync(join(run, "metrics.jsonl"), "utf-8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { step: number; loss?: number; distill_cos?: number; epoch_loss?: number });
    const steps = lines.filter((l) => l.loss !== undefined && l.epoch_loss === undefined);
    const first = steps.slice(0, 3).reduce((s, l) => s + l.loss!, 0) / 3;
    const last = steps.slice(-3).reduce((s, l) => s + l.loss!, 0) / 3;
    // measured: 1.00 -> 0.20 over these 40 steps
    assert.ok(last < 0.5 * first, `loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
    assert.ok(
      steps.every((l) => l.loss! >= 0 && l.loss! <= 2),
      "1 - cos lies in [0, 2]",
    );
    for (const l of steps) assert.ok(Math.abs(l.loss! - (1 - l.distill_cos!)) < 1e-5, "cosine loss = 1 - the mean cosine");
    assert.ok(steps.at(-1)!.distill_cos! > 0.6, `final cosine ${steps.at(-1)!.distill_cos}`);
    const provenance = JSON.parse(readFileSync(join(run, "teacher.json"), "utf-8")) as { run: string; arch: string; outDim: number; sha256: string };
    assert.equal(provenance.outDim, 64);
    assert.equal(provenance.arch, "resnet18 width 8, CIFAR stem");
    assert.match(provenance.sha256, /^[0-9a-f]{64}$/);
  });

  test("a distillation stopped and resumed gives the uninterrupted run's loss curve", async () => {
    const whole = tmp("whole");
    (await pretrain(whole, student(["train.epochs=2", "distill.loss=mse"]), opts())).model.dispose();
    const split = tmp("split");
    const first = await pretrain(split, student(["train.epochs=2", "distill.loss=mse"]), { ...opts(), stopAfterSteps: 5 });
    assert.equal(first.status, "stopped");
    first.model.dispose();
    (await resume(split, opts())).model.dispose();
    const [a, b] = [lossCurve(whole), lossCurve(split)];
    assert.equal(a.size, 8);
    for (const [step, loss] of a) assert.ok(Math.abs(loss - b.get(step)!) < 1e-5, `step ${step}: ${loss} vs ${b.get(step)}`);
  });

  test("label distillation from a fine-tuned classifier: finetune saves it, the student's head gives its classes, the loss falls and agreement rises", async () => {
    // a teacher that classifies the synthetic set well (measured: top-1 1.0 on its test split)
    const tuned = await runCli(["finetune", "--run", teacher, "--labels", "20-per-class", "--epochs", "30", "--lr", "0.5", "--batch", "64"]);
    assert.equal(tuned.code, 0, tuned.stderr);
    const folder = join(teacher, "finetuned", "labels-20-per-class-seed0");
    const description = JSON.parse(readFileSync(join(folder, "classifier.json"), "utf-8")) as { classes: string[]; labels: string; top1: number };
    assert.equal(description.classes.length, 10);
    assert.equal(description.labels, "20-per-class");
    assert.ok(description.top1 > 0.8, `the teacher's top-1 ${description.top1}`);
    assert.equal((JSON.parse(tuned.stdout.trim().split("\n").pop()!) as { classifier: string }).classifier, folder);
    const out = join(tmp("labels"), "run");
    const args = syntheticSet(data, ["train.epochs=15", "monitor.knnEvery=0", "model.width=4", "optim.lr=0.5"]).flatMap((s) => ["--set", s]);
    const r = await runCli(["distill", "--teacher", folder, "--out", out, "--set", "distill.mode=labels", ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /distilling the labels of resnet18 width 8, CIFAR stem \+ 10-way classifier \(20-per-class labels/);
    // SimCLRv2's student by default: a linear head and crop + flip views
    const saved = loadConfig({ file: join(out, "config.yaml") });
    assert.deepEqual([saved.head.outDim, saved.head.layers, saved.augment.color, saved.augment.grayscale, saved.augment.blur], [10, 1, false, false, false]);
    const steps = readFileSync(join(out, "metrics.jsonl"), "utf-8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { loss?: number; distill_agree?: number; epoch_loss?: number })
      .filter((l) => l.loss !== undefined && l.epoch_loss === undefined);
    const mean = (ls: typeof steps, key: "loss" | "distill_agree") => ls.reduce((s, l) => s + l[key]!, 0) / ls.length;
    assert.ok(mean(steps.slice(-4), "loss") < mean(steps.slice(0, 4), "loss"), "the soft cross-entropy falls");
    assert.ok(mean(steps.slice(-4), "distill_agree") > mean(steps.slice(0, 4), "distill_agree"), "agreement with the teacher rises");
    const provenance = JSON.parse(readFileSync(join(out, "teacher.json"), "utf-8")) as { mode: string; outDim: number; classes: string[] };
    assert.deepEqual([provenance.mode, provenance.outDim, provenance.classes.length], ["labels", 10, 10]);
    // the student as the classifier it was trained to be (eval head) equals the argmax of its head, counted by hand
    const scored = await runCli(["eval", "head", "--run", out]);
    assert.equal(scored.code, 0, scored.stderr);
    const head = JSON.parse(scored.stdout.trim().split("\n").pop()!) as { protocol: string; method: string; top1: number; test_size: number };
    assert.deepEqual([head.protocol, head.method], ["head", "head"]);
    const config = evaluationConfig(out);
    const splits = await labelledSplits(config);
    const split = splits.test;
    const { model } = loadEncoder({ config, inChannels: 1, runDir: out });
    model.eval();
    const predicted = tidy(() => noGrad(() => model.call(toUnitFloat(split.images)).z.argmax(1).toArray())) as number[];
    const truth = split.labels.toArray() as number[];
    const right = predicted.filter((p, i) => p === truth[i]).length;
    assert.equal(head.test_size, truth.length);
    assert.ok(Math.abs(head.top1 - right / truth.length) < 1e-9, `eval head ${head.top1}, by hand ${right / truth.length}`);
    assert.ok(head.top1 > 0.3, `the student learnt the teacher's classes: top-1 ${head.top1}`);
    model.dispose();
    for (const t of [split.images, split.labels, splits.train.images, splits.train.labels]) t.dispose();
    // a run that is not a label distillation has no classifier head
    await assert.rejects(
      evaluateHead(teacher, evaluationConfig(teacher), { progress: quiet() }),
      (e: Error) => e instanceof ConfigError && /is not a label distillation/.test(e.message),
    );
    const misuse = await runCli(["eval", "head", "--run", out, "--features", "z"]);
    assert.equal(misuse.code, 2);
    assert.match(misuse.stderr, /--features does not apply/);
    // a teacher whose classes are in another order would score the head against the wrong labels
    const teacherJson = join(out, "teacher.json");
    const original = readFileSync(teacherJson, "utf-8");
    writeFileSync(teacherJson, JSON.stringify({ ...provenance, classes: [...provenance.classes].reverse() }));
    await assert.rejects(
      evaluateHead(out, evaluationConfig(out), { progress: quiet() }),
      (e: Error) => e instanceof DataError && /are not the test split's .* in the same order/.test(e.message),
    );
    writeFileSync(teacherJson, original);
    // the user's settings win over those defaults, from --set and from --config
    const file = join(tmp("config"), "c.yaml");
    writeFileSync(file, "augment:\n  blur: true\n");
    const own = join(tmp("own"), "run");
    const mine = await runCli([
      "distill",
      "--teacher",
      folder,
      "--out",
      own,
      "--config",
      file,
      "--set",
      "distill.mode=labels",
      ...args,
      "--set",
      "augment.color=true",
      "--set",
      "train.epochs=1",
    ]);
    assert.equal(mine.code, 0, mine.stderr);
    const kept = loadConfig({ file: join(own, "config.yaml") });
    assert.deepEqual([kept.head.layers, kept.augment.color, kept.augment.grayscale, kept.augment.blur], [1, true, false, true]);
    // a run directory is not a classifier
    const wrong = await runCli(["distill", "--teacher", teacher, "--out", join(tmp("wrong"), "run"), "--set", "distill.mode=labels", ...args]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /has no classifier\.json: label distillation needs a fine-tuned classifier/);
  });

  test("the command sets head.outDim from the teacher; errors name the key", async () => {
    const out = join(tmp("cli"), "run");
    const args = syntheticSet(data, ["train.epochs=1", "monitor.knnEvery=0", "model.width=4"]).flatMap((s) => ["--set", s]);
    const ok = await runCli(["distill", "--teacher", teacher, "--out", out, ...args]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /distilling resnet18 width 8, CIFAR stem .*h of 64\) with cosine loss/);
    assert.match(readFileSync(join(out, "config.yaml"), "utf-8"), /outDim: 64/);
    assert.ok(latestCheckpoint(out) !== null);

    const none = await runCli(["distill", "--out", join(tmp("none"), "run"), ...args]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /distill needs --teacher RUN/);
    const missing = await runCli(["distill", "--teacher", join(tmp("x"), "nowhere"), "--out", join(tmp("m"), "run"), ...args]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /distill\.teacher: .*nowhere does not exist/);
    const wrongDim = join(tmp("dim"), "run");
    const dim = await runCli(["distill", "--teacher", teacher, "--out", wrongDim, ...args, "--set", "head.outDim=16"]);
    assert.equal(dim.code, 2);
    assert.match(dim.stderr, /head\.outDim is 16, but the teacher's h has 64 values/);
    assert.ok(!existsSync(wrongDim), "a refused start leaves no run directory");
    const rgb = await writePngFolder(data, 64);
    const set = [
      "data.name=image-folder",
      `data.path=${rgb}`,
      "data.size=28",
      "data.channels=3",
      "train.batchSize=32",
      "model.width=4",
      `distill.teacher=${teacher}`,
      "head.outDim=64",
    ];
    await assert.rejects(
      pretrain(tmp("rgb"), loadConfig({ set }), opts()),
      (e: Error) => e instanceof ConfigError && /teacher.*encoder takes 1-channel images, the student's data has 3/.test(e.message),
    );
  });
});
