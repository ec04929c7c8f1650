/** Shared pieces of the CLI commands: config options, errors, exit codes. */
import { join } from "node:path";
import { ConfigError, configToYaml, flattenConfig, loadConfig } from "../config/load.js";
import type { Config, ConfigKey } from "../config/schema.js";
import { runConfig } from "../eval/encoder-source.js";
import { appendJsonLine } from "../train/checkpoint.js";

/** A problem with what the user asked for: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const CONFIG_OPTIONS = {
  config: { type: "string" },
  set: { type: "string", multiple: true },
  /** Shorthand for --set data.skipBad=true: unreadable images are skipped and counted. */
  "skip-bad": { type: "boolean" },
} as const;

export function resolveConfig(values: { config?: string; set?: string[]; "skip-bad"?: boolean }): Config {
  const set = [...(values.set ?? []), ...(values["skip-bad"] ? ["data.skipBad=true"] : [])];
  return loadConfig({ file: values.config, set });
}

/**
 * A pretraining run's config for evaluating or fine-tuning it: only data.* may be changed
 * with --set, and the run's data.limit (which chose its pretraining subset) is dropped unless
 * --set gives one (then it cuts both splits).
 */
export function runConfigForEvaluation(runDir: string, set: string[] = [], command: string): Config {
  for (const s of set) {
    if (!s.startsWith("data.")) throw new UsageError(`${command}: only data.* settings can be changed (got ${s})`);
  }
  const base = Object.fromEntries(flattenConfig(runConfig(runDir))) as Partial<Record<ConfigKey, unknown>>;
  const keepLimit = set.some((s) => s.startsWith("data.limit="));
  return loadConfig({ base, set: keepLimit ? set : [...set, "data.limit=null"] });
}

/** Prints a result as one JSON line and appends it to DIR/results.jsonl (read by compare). */
export function reportResult(dir: string, record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
  appendJsonLine(join(dir, "results.jsonl"), record);
}

export function printConfig(config: Config, stream: NodeJS.WriteStream = process.stderr): void {
  stream.write(`# resolved config\n${configToYaml(config)}\n`);
}

/** Runs a command, mapping errors to messages and exit codes. */
export async function runCommand(fn: () => Promise<number | void>): Promise<void> {
  try {
    const code = await fn();
    process.exitCode = code ?? 0;
  } catch (e) {
    const err = e as Error;
    if (err instanceof UsageError || err instanceof ConfigError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`simclr: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`simclr: ${err.message}\n`);
      if (process.env.SIMCLR_DEBUG) process.stderr.write(`${err.stack}\n`);
      process.exitCode = 1;
    }
  }
}
