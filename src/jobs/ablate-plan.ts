/**
 * The plan of an ablation study (`simclr ablate --plan PLAN.yaml`): shared config keys, arms
 * (config overrides) x seeds, the evaluation every run gets, the baselines and the gates.
 * examples/ablate-cifar10.yaml is SCIENCE.md's protocol. Every mistake in a plan is a
 * ConfigError naming the file and the place in it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../native/paths.js";
import { parse as parseYaml } from "yaml";
import { loadConfig, isConfigKey, type ConfigValue } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import type { GateSpec } from "../eval/study.js";

export interface ArmSpec {
  /** Short id used in run folders, results and gates (A1, C-none, ...). */
  id: string;
  /** What the arm is, in words. */
  label: string;
  /** The report's grouping: augmentation, head, loss, length, batch, pilot, ... */
  block: string;
  /** Config keys this arm sets over the plan's base. */
  set: Record<string, unknown>;
  seeds: number[];
  /** simclr (default): pretrain, then probe h and z; supervised: the same encoder trained with labels (simclr supervised), scored by its test top-1. */
  kind: "simclr" | "supervised";
}

export interface AblationPlan {
  name: string;
  description: string;
  /** Config keys every run shares (data, model, budget, ...). */
  base: Record<string, unknown>;
  /** Seeds of an arm that names none. */
  seeds: number[];
  evaluation: { features: ("h" | "z")[]; linear: boolean; knn: number[] };
  /** The untrained network at these seeds, and the raw pixels once. */
  baselines: { randomInit: number[]; rawPixels: boolean };
  arms: ArmSpec[];
  /** The default arm, shared by every block of the report (SCIENCE.md: A1); default the first arm. */
  defaultArm: string;
  gates: GateSpec[];
}

/** The baselines' arm ids in results and gates. */
export const RANDOM_INIT = "random-init";
/** The Fashion-MNIST smoke plan (no claims), shipped with the package. */
export const QUICK_PLAN = join(PACKAGE_ROOT, "examples", "ablate-fmnist-quick.yaml");
export const RAW_PIXELS = "raw-pixels";

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function readPlan(path: string): { plan: AblationPlan; text: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf-8");
  } catch (e) {
    throw new ConfigError(`${path}: cannot read the plan (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return { plan: parsePlan(text, path), text };
}

/** Parses and checks a plan; every arm's config is resolved once here, so a bad key fails before any run. */
export function parsePlan(text: string, source: string): AblationPlan {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${source}: not YAML (${(e as Error).message.split("\n")[0]})`);
  }
  const fail = (where: string, message: string): never => {
    throw new ConfigError(`${source}: ${where} ${message}`);
  };
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) fail("the plan", "must be a mapping (name, base, seeds, arms, gates, ...)");
  const d = doc as Record<string, unknown>;
  const known = ["name", "description", "base", "seeds", "evaluation", "baselines", "arms", "default", "gates"];
  for (const k of Object.keys(d)) if (!known.includes(k)) fail(`'${k}'`, `is not a plan field (${known.join(", ")})`);
  const str = (v: unknown, where: string, fallback?: string): string => {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== "string" || v.trim() === "") return fail(where, `must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  };
  const seedList = (v: unknown, where: string): number[] => {
    if (!Array.isArray(v) || v.length === 0) return fail(where, `must be a non-empty list of seeds, got ${JSON.stringify(v)}`);
    for (const s of v) if (!Number.isSafeInteger(s) || (s as number) < 0) fail(where, `must hold integers >= 0, got ${JSON.stringify(s)}`);
    if (new Set(v).size !== v.length) fail(where, `repeats a seed: ${JSON.stringify(v)}`);
    return v as number[];
  };
  const mapping = (v: unknown, where: string): Record<string, unknown> => {
    if (v === undefined || v === null) return {};
    if (typeof v !== "object" || Array.isArray(v)) return fail(where, "must be a mapping of config keys (augment.color: false)");
    for (const key of Object.keys(v)) if (!isConfigKey(key)) fail(`${where}.${key}`, "is not a config key (docs/config.md lists them)");
    return v as Record<string, unknown>;
  };

  const name = str(d.name, "name");
  const description = str(d.description, "description", "");
  const base = mapping(d.base, "base");
  for (const key of ["train.seed"]) if (key in base) fail(`base.${key}`, "is set by the seeds, not the base");
  const seeds = seedList(d.seeds ?? [0], "seeds");

  const ev = (d.evaluation ?? {}) as Record<string, unknown>;
  if (typeof ev !== "object" || Array.isArray(ev)) fail("evaluation", "must be a mapping (features, linear, knn)");
  const features = (ev.features ?? ["h", "z"]) as unknown;
  if (!Array.isArray(features) || features.length === 0 || features.some((f) => f !== "h" && f !== "z"))
    fail("evaluation.features", `must be a list of h and z, got ${JSON.stringify(features)}`);
  const linear = ev.linear ?? true;
  if (typeof linear !== "boolean") fail("evaluation.linear", `must be true or false, got ${JSON.stringify(linear)}`);
  const knn = (ev.knn ?? [10, 200]) as unknown;
  if (!Array.isArray(knn) || knn.some((k) => !Number.isSafeInteger(k) || (k as number) < 1))
    fail("evaluation.knn", `must be a list of k >= 1 (or []), got ${JSON.stringify(knn)}`);

  const bl = (d.baselines ?? {}) as Record<string, unknown>;
  const randomInit =
    bl.randomInit === undefined || (Array.isArray(bl.randomInit) && bl.randomInit.length === 0) ? [] : seedList(bl.randomInit, "baselines.randomInit");
  const rawPixels = bl.rawPixels ?? false;
  if (typeof rawPixels !== "boolean") fail("baselines.rawPixels", `must be true or false, got ${JSON.stringify(rawPixels)}`);

  if (!Array.isArray(d.arms) || d.arms.length === 0) fail("arms", "must be a non-empty list of arms (id, set, seeds)");
  const arms: ArmSpec[] = (d.arms as unknown[]).map((raw, i) => {
    const where = `arms[${i}]`;
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return fail(where, "must be a mapping (id, label, block, set, seeds)");
    const a = raw as Record<string, unknown>;
    for (const k of Object.keys(a))
      if (!["id", "label", "block", "set", "seeds", "kind"].includes(k)) fail(`${where}.${k}`, "is not an arm field (id, label, block, set, seeds, kind)");
    const kind = a.kind ?? "simclr";
    if (kind !== "simclr" && kind !== "supervised") fail(`${where}.kind`, `must be simclr or supervised, got ${JSON.stringify(kind)}`);
    const id = str(a.id, `${where}.id`);
    if (!ID.test(id)) fail(`${where}.id`, `must be letters, digits, '.', '_' or '-' (a folder name), got '${id}'`);
    if (id === RANDOM_INIT || id === RAW_PIXELS) fail(`${where}.id`, `'${id}' names a baseline`);
    const set = mapping(a.set, `${where}.set`);
    if ("train.seed" in set) fail(`${where}.set.train.seed`, "is set by the seeds");
    return {
      id,
      label: str(a.label, `${where}.label`, id),
      block: str(a.block, `${where}.block`, "arms"),
      set,
      seeds: a.seeds === undefined ? seeds : seedList(a.seeds, `${where}.seeds`),
      kind: kind as ArmSpec["kind"],
    };
  });
  const ids = arms.map((a) => a.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) fail("arms", `repeat the id '${dup}'`);

  const plan: AblationPlan = {
    name,
    description,
    base,
    seeds,
    evaluation: { features: features as ("h" | "z")[], linear: linear as boolean, knn: knn as number[] },
    baselines: { randomInit, rawPixels: rawPixels as boolean },
    arms,
    defaultArm: d.default === undefined ? arms[0]!.id : str(d.default, "default"),
    gates: [],
  };
  if (!ids.includes(plan.defaultArm)) fail("default", `names no arm of this plan: '${plan.defaultArm}' (${ids.join(", ")})`);
  // every arm's config resolves (bad values fail here, naming the arm)
  for (const arm of arms) armConfig(plan, arm, arm.seeds[0]!, source);

  const armIds = new Set([...ids, ...(randomInit.length > 0 ? [RANDOM_INIT] : []), ...(rawPixels ? [RAW_PIXELS] : [])]);
  const gates = d.gates ?? [];
  if (!Array.isArray(gates)) fail("gates", "must be a list");
  plan.gates = (gates as unknown[]).map((raw, i) => {
    const where = `gates[${i}]`;
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return fail(where, "must be a mapping (id, check, a, b, minMean, ...)");
    const g = raw as Record<string, unknown>;
    const fields = ["id", "check", "a", "b", "metric", "bMetric", "minMean", "minPositive", "pairs", "soft", "agree", "between", "higherForB", "paper"];
    for (const k of Object.keys(g)) if (!fields.includes(k)) fail(`${where}.${k}`, `is not a gate field (${fields.join(", ")})`);
    const arm = (v: unknown, field: string): string => {
      const id = str(v, `${where}.${field}`);
      if (!armIds.has(id)) fail(`${where}.${field}`, `names no arm or baseline of this plan: '${id}' (${[...armIds].join(", ")})`);
      return id;
    };
    if (typeof g.minMean !== "number" || !Number.isFinite(g.minMean)) fail(`${where}.minMean`, `must be a number of points, got ${JSON.stringify(g.minMean)}`);
    const spec: GateSpec = {
      id: str(g.id, `${where}.id`),
      check: str(g.check, `${where}.check`),
      a: arm(g.a, "a"),
      b: arm(g.b, "b"),
      minMean: g.minMean as number,
    };
    for (const k of ["metric", "bMetric", "agree", "paper", "higherForB"] as const) if (g[k] !== undefined) spec[k] = str(g[k], `${where}.${k}`);
    // kNN must agree in sign: at the largest k the plan evaluates, unless the gate says otherwise
    if (spec.agree === undefined) spec.agree = plan.evaluation.knn.length > 0 ? `knn${Math.max(...plan.evaluation.knn)}_h` : "none";
    if (g.between !== undefined) spec.between = arm(g.between, "between");
    for (const k of ["minPositive", "pairs"] as const) {
      if (g[k] === undefined) continue;
      if (!Number.isSafeInteger(g[k]) || (g[k] as number) < 1) fail(`${where}.${k}`, `must be an integer >= 1, got ${JSON.stringify(g[k])}`);
      spec[k] = g[k] as number;
    }
    if (g.soft !== undefined) {
      if (typeof g.soft !== "boolean") fail(`${where}.soft`, `must be true or false, got ${JSON.stringify(g.soft)}`);
      spec.soft = g.soft as boolean;
    }
    return spec;
  });
  return plan;
}

function values(record: Record<string, unknown>, source: string): ConfigValue[] {
  return Object.entries(record).map(([key, v]) => {
    if (!isConfigKey(key)) throw new ConfigError(`${source}: unknown config key '${key}'`);
    return { key, text: v === null ? "null" : typeof v === "string" ? JSON.stringify(v) : String(v), source };
  });
}

/** The config of `arm` at `seed`: defaults, the plan's base, the arm's keys, train.seed. */
export function armConfig(plan: AblationPlan, arm: ArmSpec | null, seed: number, source = `plan ${plan.name}`): Config {
  return loadConfig({
    values: [
      ...values(plan.base, `${source}: base`),
      ...(arm === null ? [] : values(arm.set, `${source}: arm ${arm.id}`)),
      { key: "train.seed", text: String(seed), source: `${source}: seed` },
    ],
  });
}
