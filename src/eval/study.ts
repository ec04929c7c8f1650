/**
 * The statistics of an ablation study (`simclr ablate`, SCIENCE.md): runs are arms x seeds,
 * each with its evaluation metrics; a gate compares two arms (or two metrics of one arm) by
 * their paired differences over the seeds they share, and passes when the mean difference
 * reaches its threshold and enough pairs agree in sign. Pure functions on plain records, so
 * the job that runs the study, its report and the tests share one definition.
 */

/** The evaluation of one run: metric name -> value (accuracies in [0, 1]). */
export type Metrics = Record<string, number>;

/** One finished run of the study: an arm at a seed (null for a seedless baseline: raw pixels). */
export interface StudyRun {
  arm: string;
  seed: number | null;
  metrics: Metrics;
  /** Augmented views the run trained on (0 for baselines). */
  views: number;
  /** Wall seconds the run took here: pretraining (this process's share, if resumed) and evaluation. */
  seconds: { pretrain: number; evaluate: number };
  /** Measured pretraining throughput (views/s), median of the run's logged steps; null for baselines. */
  viewsPerSecond: number | null;
  /** Why the run has no metrics: it diverged (the loss became NaN or infinite). Gates that need it fail. */
  failed?: string;
}

/** What a gate compares, and its pass rule (SCIENCE.md, "Gates"). */
export interface GateSpec {
  id: string;
  /** What it checks, in words ("A1 vs A2 (crop+colour vs crop)"). */
  check: string;
  /** The arm expected to be better, and the one it is compared with (the same arm when metrics differ: h vs z). */
  a: string;
  b: string;
  /** The metric compared (default linear_h: the linear probe on h). */
  metric?: string;
  /** b's metric, when it differs from a's (G3: linear_h of A1 against linear_z of A1). */
  bMetric?: string;
  /** Pass: the mean of (a - b) over paired seeds is at least this, in points (percent). */
  minMean: number;
  /** Pass: at least this many pairs are positive (default: every pair, "3/3"). */
  minPositive?: number;
  /** The pairs the gate needs (default: the seeds both arms were planned with). */
  pairs?: number;
  /** A soft gate is reported but does not decide the study. */
  soft?: boolean;
  /** The metric that must agree in sign (default knn200_h; plans default it to their largest k; "none" to skip). */
  agree?: string;
  /** Also required: arm `between` lies between a and b in mean (G4: the linear head). */
  between?: string;
  /** Also required: this metric is higher for b than a in mean (G6: contrastive accuracy without l2). */
  higherForB?: string;
  /** The paper's number or finding this gate stands for, shown beside ours. */
  paper?: string;
}

export type Verdict = "pass" | "fail" | "pending";

export interface GateResult {
  id: string;
  check: string;
  soft: boolean;
  metric: string;
  bMetric: string;
  /** Per paired seed: a - b, in points. */
  pairs: { seed: number | null; a: number; b: number; diff: number }[];
  mean: number | null;
  sd: number | null;
  positive: number;
  /** The agreeing metric's mean difference (points), when checked. */
  agreeMean: number | null;
  verdict: Verdict;
  /** Why, in one line: the rule and the numbers. */
  reason: string;
  paper?: string;
}

const points = (x: number) => x * 100;

/** Sample mean and SD (n - 1); SD null for fewer than 2 values. */
export function meanSd(values: readonly number[]): { mean: number | null; sd: number | null } {
  if (values.length === 0) return { mean: null, sd: null };
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  if (values.length < 2) return { mean, sd: null };
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, sd: Math.sqrt(variance) };
}

function valueOf(runs: readonly StudyRun[], arm: string, seed: number | null, metric: string): number | undefined {
  const run = runs.find((r) => r.arm === arm && (r.seed === seed || r.seed === null));
  const v = run?.metrics[metric];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function armMean(runs: readonly StudyRun[], arm: string, metric: string): number | null {
  return meanSd(runs.filter((r) => r.arm === arm && typeof r.metrics[metric] === "number").map((r) => r.metrics[metric]!)).mean;
}

/** Evaluates one gate on the runs so far; `plannedSeeds(arm)` says which seeds each arm will have. */
export function evaluateGate(spec: GateSpec, runs: readonly StudyRun[], plannedSeeds: (arm: string) => readonly (number | null)[]): GateResult {
  const metric = spec.metric ?? "linear_h";
  const bMetric = spec.bMetric ?? metric;
  const bSeeds = new Set(plannedSeeds(spec.b));
  // a seedless baseline (raw pixels) pairs with every seed of a
  const seeds = plannedSeeds(spec.a).filter((s) => bSeeds.has(s) || bSeeds.has(null));
  const needed = spec.pairs ?? seeds.length;
  const pairs: GateResult["pairs"] = [];
  const failed = runs.filter((r) => r.failed !== undefined && [spec.a, spec.b, spec.between].includes(r.arm) && seeds.includes(r.seed));
  for (const seed of seeds) {
    const a = valueOf(runs, spec.a, seed, metric);
    const b = valueOf(runs, spec.b, seed, bMetric);
    if (a !== undefined && b !== undefined) pairs.push({ seed, a: points(a), b: points(b), diff: points(a) - points(b) });
  }
  const { mean, sd } = meanSd(pairs.map((p) => p.diff));
  const positive = pairs.filter((p) => p.diff > 0).length;
  const minPositive = spec.minPositive ?? needed;
  const base = {
    id: spec.id,
    check: spec.check,
    soft: spec.soft ?? false,
    metric,
    bMetric,
    pairs,
    mean,
    sd,
    positive,
    ...(spec.paper ? { paper: spec.paper } : {}),
  };
  if (failed.length > 0) {
    const which = failed.map((r) => `${r.arm} seed ${r.seed}: ${r.failed}`).join("; ");
    return { ...base, agreeMean: null, verdict: "fail", reason: `a run it needs failed (${which})` };
  }
  if (pairs.length < needed || mean === null) {
    return { ...base, agreeMean: null, verdict: "pending", reason: `${pairs.length} of ${needed} paired runs finished` };
  }
  const failures: string[] = [];
  if (mean < spec.minMean) failures.push(`mean ${mean.toFixed(2)} < ${spec.minMean}`);
  if (positive < minPositive) failures.push(`${positive}/${pairs.length} pairs positive, needs ${minPositive}`);
  // kNN must agree in sign with the linear probe
  const agreeMetric = spec.agree ?? "knn200_h";
  let agreeMean: number | null = null;
  if (agreeMetric !== "none") {
    const aAgree = spec.bMetric === undefined ? agreeMetric : agreeMetric.replace(/_h$/, `_${metric.split("_").pop()}`);
    const bAgree = spec.bMetric === undefined ? agreeMetric : agreeMetric.replace(/_h$/, `_${bMetric.split("_").pop()}`);
    const diffs = pairs
      .map((p) => {
        const a = valueOf(runs, spec.a, p.seed, aAgree);
        const b = valueOf(runs, spec.b, p.seed, bAgree);
        return a !== undefined && b !== undefined ? points(a) - points(b) : undefined;
      })
      .filter((d): d is number => d !== undefined);
    agreeMean = meanSd(diffs).mean;
    if (agreeMean !== null && Math.sign(agreeMean) !== Math.sign(mean)) failures.push(`${aAgree} disagrees in sign (${agreeMean.toFixed(2)})`);
  }
  if (spec.between !== undefined) {
    const [ma, mb, mm] = [armMean(runs, spec.a, metric), armMean(runs, spec.b, bMetric), armMean(runs, spec.between, metric)];
    if (ma === null || mb === null || mm === null) failures.push(`${spec.between} has no result yet`);
    else if (!(mm <= ma && mm >= mb)) failures.push(`${spec.between} (${points(mm).toFixed(1)}) is not between ${spec.a} and ${spec.b}`);
  }
  if (spec.higherForB !== undefined) {
    const [ma, mb] = [armMean(runs, spec.a, spec.higherForB), armMean(runs, spec.b, spec.higherForB)];
    if (ma === null || mb === null) failures.push(`${spec.higherForB} missing`);
    else if (!(mb > ma)) failures.push(`${spec.higherForB} of ${spec.b} (${points(mb).toFixed(1)}) is not above ${spec.a}'s (${points(ma).toFixed(1)})`);
  }
  const rule = `mean of ${spec.a} ${metric} - ${spec.b} ${bMetric} >= ${spec.minMean}, ${minPositive}/${needed} positive`;
  return failures.length === 0
    ? {
        ...base,
        agreeMean,
        verdict: "pass",
        reason: `${rule}: mean ${mean.toFixed(2)}${sd === null ? "" : ` (SD ${sd.toFixed(2)})`}, ${positive}/${pairs.length} positive`,
      }
    : { ...base, agreeMean, verdict: "fail", reason: `${rule}: ${failures.join("; ")}` };
}

/** Per arm: the mean and SD of each metric over its seeds. */
export function armSummaries(runs: readonly StudyRun[]): Record<string, { seeds: (number | null)[]; mean: Metrics; sd: Record<string, number | null> }> {
  const out: Record<string, { seeds: (number | null)[]; mean: Metrics; sd: Record<string, number | null> }> = {};
  for (const arm of [...new Set(runs.map((r) => r.arm))]) {
    const mine = runs.filter((r) => r.arm === arm);
    const names = [...new Set(mine.flatMap((r) => Object.keys(r.metrics)))];
    const mean: Metrics = {};
    const sd: Record<string, number | null> = {};
    for (const name of names) {
      const s = meanSd(mine.map((r) => r.metrics[name]).filter((v): v is number => typeof v === "number"));
      if (s.mean !== null) mean[name] = s.mean;
      sd[name] = s.sd;
    }
    out[arm] = { seeds: mine.map((r) => r.seed), mean, sd };
  }
  return out;
}
