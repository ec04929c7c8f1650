/**
 * `simclr ablate`: an ablation study run to the end, resumably (SCIENCE.md's protocol, issue
 * 22). The plan (ablate-plan.ts) is arms x seeds; each run pretrains in its own run directory
 * under OUT/runs/, interleaved across seeds (every arm at seed 0, then at seed 1, ...) so that
 * machine load hits the arms alike, and is then evaluated the same way: the linear probe and
 * kNN on h and z. OUT/results.jsonl holds one line per finished run and OUT/summary.json the
 * per-arm statistics and every gate's verdict; both are rewritten whole, atomically, after each
 * run. Rerunning the same command skips finished runs and resumes the unfinished one from its
 * checkpoint. OUT is locked while a study runs in it.
 *
 *   OUT/plan.yaml       the plan, as given (a rerun with another plan is refused)
 *   OUT/runs/<arm>-s<seed>/   each run's directory (config.yaml, checkpoints/, metrics.jsonl, results.jsonl)
 *   OUT/results.jsonl   one StudyRun per line
 *   OUT/summary.json    arms, gates, progress
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import { configToYaml } from "../config/load.js";
import { loadDataset, type LoadedDataset } from "../data/datasets.js";
import { ConfigError, NonFiniteLossError, StoppedError } from "../errors.js";
import { armSummaries, evaluateGate, type GateResult, type StudyRun } from "../eval/study.js";
import { writeFileAtomic } from "../io/atomic.js";
import { formatDuration, ProgressReporter, type TextSink } from "../io/progress.js";
import { pretrainSchedule } from "../recipe/recipe.js";
import { readJsonLines, runFiles } from "../run/run-dir.js";
import { acquireRunLock } from "../run/run-lock.js";
import { evaluateMany, type EvaluationResult } from "./evaluate.js";
import { labelledSplits, type LabelledSplits } from "./labelled-splits.js";
import { pretrain, resume } from "./pretrain.js";
import { trainSupervised } from "./supervised.js";
import { armConfig, RANDOM_INIT, RAW_PIXELS, type AblationPlan, type ArmSpec } from "./ablate-plan.js";

/** One run of the plan, in the order the study runs them. */
export interface PlannedRun {
  arm: string;
  seed: number | null;
  kind: "pretrain" | "supervised" | "random-init" | "raw-pixels";
  /** Its folder under OUT/runs/. */
  name: string;
  config: Config;
  spec: ArmSpec | null;
}

/** Baselines first (they are cheap and calibrate the rest), then every arm at each seed in turn. */
export function planRuns(plan: AblationPlan): PlannedRun[] {
  const runs: PlannedRun[] = [];
  for (const seed of plan.baselines.randomInit) {
    runs.push({ arm: RANDOM_INIT, seed, kind: "random-init", name: `${RANDOM_INIT}-s${seed}`, config: armConfig(plan, null, seed), spec: null });
  }
  if (plan.baselines.rawPixels) {
    runs.push({ arm: RAW_PIXELS, seed: null, kind: "raw-pixels", name: RAW_PIXELS, config: armConfig(plan, null, plan.seeds[0]!), spec: null });
  }
  const rounds = Math.max(...plan.arms.map((a) => a.seeds.length));
  for (let i = 0; i < rounds; i++) {
    for (const arm of plan.arms) {
      const seed = arm.seeds[i];
      if (seed === undefined) continue;
      runs.push({
        arm: arm.id,
        seed,
        kind: arm.kind === "supervised" ? "supervised" : "pretrain",
        name: `${arm.id}-s${seed}`,
        config: armConfig(plan, arm, seed),
        spec: arm,
      });
    }
  }
  return runs;
}

/** The seeds each arm (or baseline) is planned with, for the gates' pairing. */
export function plannedSeeds(plan: AblationPlan): (arm: string) => (number | null)[] {
  return (arm) => {
    if (arm === RANDOM_INIT) return plan.baselines.randomInit;
    if (arm === RAW_PIXELS) return plan.baselines.rawPixels ? [null] : [];
    return plan.arms.find((a) => a.id === arm)?.seeds ?? [];
  };
}

export interface StudySummary {
  plan: string;
  description: string;
  /** Finished runs of all planned. */
  done: number;
  total: number;
  runs: StudyRun[];
  arms: {
    id: string;
    label: string;
    block: string;
    seeds: (number | null)[];
    set: Record<string, unknown>;
    mean: Record<string, number>;
    sd: Record<string, number | null>;
  }[];
  gates: GateResult[];
  /** Hard gates: every one passed (soft ones are reported, not counted); null while any is pending. */
  passed: boolean | null;
  updatedAt: string;
}

export function studySummary(plan: AblationPlan, runs: StudyRun[]): StudySummary {
  const stats = armSummaries(runs);
  const seedsOf = plannedSeeds(plan);
  const gates = plan.gates.map((g) => evaluateGate(g, runs, seedsOf));
  const hard = gates.filter((g) => !g.soft);
  const describe = (id: string, label: string, block: string, set: Record<string, unknown>) => ({
    id,
    label,
    block,
    set,
    seeds: stats[id]?.seeds ?? [],
    mean: stats[id]?.mean ?? {},
    sd: stats[id]?.sd ?? {},
  });
  return {
    plan: plan.name,
    description: plan.description,
    done: runs.length,
    total: planRuns(plan).length,
    runs,
    arms: [
      ...(plan.baselines.randomInit.length > 0 ? [describe(RANDOM_INIT, "random init (untrained encoder)", "baselines", {})] : []),
      ...(plan.baselines.rawPixels ? [describe(RAW_PIXELS, "raw pixels", "baselines", {})] : []),
      ...plan.arms.map((a) => describe(a.id, a.label, a.block, a.set)),
    ],
    gates,
    passed: hard.some((g) => g.verdict === "pending") ? null : hard.every((g) => g.verdict === "pass"),
    updatedAt: new Date().toISOString(),
  };
}

export interface AblateOptions {
  progress?: ProgressReporter;
  /** Handle SIGINT/SIGTERM in a pretraining run by checkpointing and stopping (default true). */
  handleSignals?: boolean;
  /** Stop the study after this many optimizer steps of pretraining in this call (tests: a kill). */
  stopAfterSteps?: number;
}

export interface AblateResult {
  status: "finished" | "stopped";
  summary: StudySummary;
  out: string;
}

/** The study's files under `out`. */
export function studyFiles(out: string) {
  return { plan: join(out, "plan.yaml"), results: join(out, "results.jsonl"), summary: join(out, "summary.json"), runs: join(out, "runs") };
}

/** Views a pretraining run of `config` trains on, for `images` training images. */
function runViews(config: Config, images: number): number {
  const { totalSteps } = pretrainSchedule(config, images);
  return totalSteps * 2 * config.train.batchSize;
}

/** A study's metric name for an evaluation: linear_h, linear_z, knn200_h, ... */
const metricName = (r: EvaluationResult, k?: number) => (r.method === "knn" ? `knn${k}_${r.features}` : `linear_${r.features}`);

/** The metrics of a run: its evaluations, and its last logged contrastive accuracy and loss. */
function metricsOf(results: EvaluationResult[], runDir: string | null): Record<string, number> {
  const metrics: Record<string, number> = {};
  for (const r of results) {
    if (r.byK !== undefined) for (const b of r.byK) metrics[metricName(r, b.k)] = b.top1;
    else metrics[metricName(r, typeof r.k === "number" ? r.k : undefined)] = r.top1;
  }
  if (runDir !== null) {
    const steps = readJsonLines(runFiles(runDir).metrics).filter((m) => typeof m.loss === "number");
    const last = steps[steps.length - 1];
    if (last !== undefined) {
      metrics.contrastive_acc = last.contrastive_acc as number;
      metrics.loss = last.loss as number;
    }
  }
  return metrics;
}

function medianViewsPerSecond(runDir: string): number | null {
  const v = readJsonLines(runFiles(runDir).metrics)
    .map((m) => m.views_per_s)
    .filter((x): x is number => typeof x === "number")
    .sort((a, b) => a - b);
  return v.length === 0 ? null : v[Math.floor(v.length / 2)]!;
}

function writeStudy(out: string, plan: AblationPlan, runs: StudyRun[]): StudySummary {
  const files = studyFiles(out);
  writeFileAtomic(files.results, runs.map((r) => JSON.stringify(r)).join("\n") + (runs.length > 0 ? "\n" : ""));
  const summary = studySummary(plan, runs);
  writeFileAtomic(files.summary, `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

/** The finished runs recorded in OUT/results.jsonl. */
export function readStudyRuns(out: string): StudyRun[] {
  return readJsonLines(studyFiles(out).results) as unknown as StudyRun[];
}

/** A sink that puts `prefix()` before every line written to `sink`. */
function prefixed(sink: TextSink, prefix: () => string): TextSink {
  return {
    isTTY: sink.isTTY ?? false,
    write: (text: string) => sink.write(text.replace(/(^|\n)(?=[^\n\r])/g, `$1${prefix()}`).replace(/\r(?=[^\n])/g, `\r${prefix()}`)),
  };
}

/**
 * Runs (or continues) the study of `plan` in `out`. `planText` is stored as OUT/plan.yaml; a
 * rerun must give the same plan. Returns when every run is done, or when a run was stopped.
 */
export async function ablate(out: string, plan: AblationPlan, planText: string, options: AblateOptions = {}): Promise<AblateResult> {
  const progress = options.progress ?? new ProgressReporter();
  const files = studyFiles(out);
  const lock = acquireRunLock(out, (holder) => progress.message(`${out}: took over the lock of process ${holder.pid} on ${holder.host}, which is gone`));
  try {
    if (existsSync(files.plan)) {
      if (readFileSync(files.plan, "utf-8") !== planText) {
        throw new ConfigError(
          `${out} holds a study of another plan (${files.plan} differs from the plan given): continue it with that plan, or choose another folder`,
        );
      }
    } else {
      writeFileAtomic(files.plan, planText);
    }
    mkdirSync(files.runs, { recursive: true });
    const planned = planRuns(plan);
    const runs = readStudyRuns(out).filter((r) => planned.some((p) => p.arm === r.arm && p.seed === r.seed));
    let summary = writeStudy(out, plan, runs);
    const isDone = (p: PlannedRun) => runs.some((r) => r.arm === p.arm && r.seed === p.seed);

    // The data, loaded once per distinct data section: training images for pretraining, labelled splits for evaluation.
    const pretrainData = new Map<string, LoadedDataset>();
    const evalData = new Map<string, LabelledSplits>();
    const dataKey = (c: Config) => JSON.stringify(c.data);
    const trainingSet = async (c: Config) => {
      const key = dataKey(c);
      if (!pretrainData.has(key)) pretrainData.set(key, await loadDataset(c.data, "train"));
      return pretrainData.get(key)!;
    };
    const splitsOf = async (c: Config) => {
      const key = dataKey(c);
      if (!evalData.has(key)) evalData.set(key, await labelledSplits(c));
      return evalData.get(key)!;
    };

    // ETA: views left over the measured throughput, plus the evaluations at their measured cost.
    const viewsOf = new Map<string, number>();
    const throughput = () => {
      const rates = runs.map((r) => r.viewsPerSecond).filter((v): v is number => v !== null);
      return rates.length === 0 ? null : rates.reduce((s, v) => s + v, 0) / rates.length;
    };
    const evalSeconds = () => {
      const t = runs.map((r) => r.seconds.evaluate);
      return t.length === 0 ? 60 : t.reduce((s, v) => s + v, 0) / t.length;
    };
    const secondsLeft = (from: number) => {
      const rate = throughput();
      let s = 0;
      for (const p of planned.slice(from)) {
        if (isDone(p)) continue;
        if (p.kind === "supervised") s += (p.config.supervised.budgetViews ?? 0) / (rate ?? 700);
        else s += evalSeconds() + (p.kind === "pretrain" ? (viewsOf.get(p.name) ?? 0) / (rate ?? 700) : 0);
      }
      return s;
    };

    try {
      for (const [index, p] of planned.entries()) {
        if (isDone(p)) continue;
        const runDir = join(files.runs, p.name);
        const label = `[${index + 1}/${planned.length}] ${p.arm}${p.seed === null ? "" : ` seed ${p.seed}`}`;
        const started = performance.now();
        let pretrainSeconds = 0;
        if (p.kind === "pretrain") {
          const data = await trainingSet(p.config);
          for (const q of planned) if (q.kind === "pretrain" && !viewsOf.has(q.name)) viewsOf.set(q.name, runViews(q.config, data.images.size(0)));
          const views = viewsOf.get(p.name)!;
          const runStarted = performance.now();
          const eta = secondsLeft(index);
          progress.message(
            `${label}: ${p.spec?.label ?? p.arm}, ${views.toLocaleString("en-US")} views; ${summary.done} of ${planned.length} runs done, ` +
              `study ~${formatDuration(eta)} left${throughput() === null ? " (estimated at 700 views/s until a run is measured)" : ` at ${Math.round(throughput()!)} views/s`}`,
          );
          const runProgress = new ProgressReporter(
            prefixed(progress.sink, () => `${label} (study ~${formatDuration(eta - (performance.now() - runStarted) / 1000)} left) `),
          );
          const common = {
            progress: runProgress,
            data,
            handleSignals: options.handleSignals ?? true,
            ...(options.stopAfterSteps !== undefined ? { stopAfterSteps: options.stopAfterSteps } : {}),
          };
          let result;
          try {
            result = existsSync(runFiles(runDir).config) ? await resumeChecked(runDir, p, common) : await pretrain(runDir, p.config, common);
          } catch (e) {
            if (e instanceof StoppedError) {
              progress.message(`${label}: stopped before its first step (${e.signal}); rerun the same command to continue the study`);
              return { status: "stopped", summary, out };
            }
            if (!(e instanceof NonFiniteLossError)) throw e;
            // a diverged arm is a result, not the end of the study: recorded, and every gate that needs it fails
            runs.push({
              arm: p.arm,
              seed: p.seed,
              metrics: {},
              views,
              seconds: { pretrain: 0, evaluate: 0 },
              viewsPerSecond: null,
              failed: `diverged at step ${e.step}`,
            });
            summary = writeStudy(out, plan, runs);
            progress.message(`${label}: diverged (${e.message.split(".")[0]}); recorded as failed, the study goes on`);
            continue;
          }
          pretrainSeconds = (performance.now() - runStarted) / 1000;
          if (result.status === "stopped") {
            progress.message(`${label}: stopped at step ${result.globalStep}; rerun the same command to continue the study`);
            return { status: "stopped", summary, out };
          }
        } else if (p.kind === "supervised") {
          // not resumable: an interrupted supervised arm is trained again (it is deterministic in its seed)
          progress.message(`${label}: ${p.spec?.label ?? p.arm}, supervised with labels`);
          const runStarted = performance.now();
          const r = await trainSupervised(runDir, p.config, { progress: new ProgressReporter(prefixed(progress.sink, () => `${label} `)) });
          const seconds = (performance.now() - runStarted) / 1000;
          const images = Number(r.train_size);
          runs.push({
            arm: p.arm,
            seed: p.seed,
            metrics: { supervised_top1: r.top1 },
            views: Number(r.epochs) * images,
            seconds: { pretrain: Number(seconds.toFixed(1)), evaluate: 0 },
            viewsPerSecond: Number(((Number(r.epochs) * images) / seconds).toFixed(1)),
          });
          summary = writeStudy(out, plan, runs);
          progress.message(`${label}: supervised_top1 ${(r.top1 * 100).toFixed(1)} (${formatDuration(seconds)})`);
          continue;
        } else {
          mkdirSync(runDir, { recursive: true });
          progress.message(`${label}: ${p.kind === "raw-pixels" ? "the raw pixels" : "the untrained encoder"}, evaluated`);
        }
        const evalStarted = performance.now();
        const results = await evaluateMany(runDir, p.config, {
          protocols: [...(plan.evaluation.linear ? (["linear"] as const) : []), ...(plan.evaluation.knn.length > 0 ? (["knn"] as const) : [])],
          features: p.kind === "raw-pixels" ? ["h"] : plan.evaluation.features,
          ks: plan.evaluation.knn.length > 0 ? plan.evaluation.knn : [p.config.eval.k],
          randomInit: p.kind === "random-init",
          rawPixels: p.kind === "raw-pixels",
          splits: await splitsOf(p.config),
          progress: ProgressReporter.silent(),
        });
        const metrics = metricsOf(results, p.kind === "pretrain" ? runDir : null);
        runs.push({
          arm: p.arm,
          seed: p.seed,
          metrics,
          views: p.kind === "pretrain" ? viewsOf.get(p.name)! : 0,
          seconds: { pretrain: Number(pretrainSeconds.toFixed(1)), evaluate: Number(((performance.now() - evalStarted) / 1000).toFixed(1)) },
          viewsPerSecond: p.kind === "pretrain" ? medianViewsPerSecond(runDir) : null,
        });
        summary = writeStudy(out, plan, runs);
        const shown = Object.entries(metrics)
          .filter(([k]) => k.startsWith("linear") || k.startsWith("knn"))
          .map(([k, v]) => `${k} ${(v * 100).toFixed(1)}`)
          .join(", ");
        progress.message(`${label}: ${shown} (${formatDuration((performance.now() - started) / 1000)})`);
      }
    } finally {
      for (const d of pretrainData.values()) {
        d.images.dispose();
        d.labels.dispose();
      }
      for (const s of evalData.values()) for (const t of [s.train.images, s.train.labels, s.test.images, s.test.labels]) t.dispose();
    }
    return { status: "finished", summary, out };
  } finally {
    lock.release();
  }
}

/** Resumes a run, refusing one whose saved config is not the plan's for it (the plan changed under it). */
async function resumeChecked(runDir: string, p: PlannedRun, options: Parameters<typeof resume>[1]) {
  const saved = readFileSync(runFiles(runDir).config, "utf-8");
  if (saved !== configToYaml(p.config)) {
    throw new ConfigError(
      `${runDir}/config.yaml is not the plan's config for ${p.arm} seed ${p.seed}: the run was started by another plan; move it aside to start it again`,
    );
  }
  return resume(runDir, options);
}
