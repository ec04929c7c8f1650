/**
 * The config an evaluation of a run uses: the run's saved config, with only the sections an
 * evaluation may change (data, eval, finetune, supervised, and train.device/threads never:
 * the architecture must stay the run's). The run's data.limit chose its pretraining subset,
 * so it is dropped unless the caller sets one (which then cuts both splits).
 */
import { loadConfig, type ConfigValue } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { readRunConfig } from "../run/run-dir.js";

export const EVALUATION_SECTIONS = ["data", "eval", "finetune", "supervised"] as const satisfies readonly (keyof Config)[];

export function evaluationConfig(runDir: string, overrides: { set?: string[]; setSource?: string; values?: ConfigValue[] } = {}): Config {
  const saved = readRunConfig(runDir);
  const base: Config = { ...saved, data: { ...saved.data, limit: null } };
  return loadConfig({ base, sections: EVALUATION_SECTIONS, ...overrides });
}
