/**
 * What every command shares: the config flags, turning a command's own flags into config
 * values (checked by the schema, errors naming the flag), errors and exit codes.
 */
import type { ConfigValue } from "../config/load.js";
import { configToYaml, loadConfig } from "../config/load.js";
import type { Config, ConfigKey } from "../config/schema.js";
import { ConfigError, SimclrError, StoppedError } from "../errors.js";

/** A problem with what the user typed: printed without a stack trace, exit code 2. */
export class UsageError extends SimclrError {
  constructor(message: string) {
    super("ERR_SIMCLR_USAGE", message);
  }
}

export const CONFIG_OPTIONS = {
  config: { type: "string" },
  set: { type: "string", multiple: true },
  /** Shorthand for --set data.skipBad=true: unreadable images are skipped and counted. */
  "skip-bad": { type: "boolean" },
} as const;

type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** The command's flags that set config keys, as config values named by their flag. */
export function flagValues(values: FlagValues, flags: Record<string, ConfigKey>): ConfigValue[] {
  const out: ConfigValue[] = [];
  for (const [flag, key] of Object.entries(flags)) {
    const v = values[flag];
    if (v === undefined) continue;
    out.push({ key, text: String(v), source: `--${flag}` });
  }
  return out;
}

/** The config of --config, --set, --skip-bad and the command's own flags. */
export function resolveConfig(values: { config?: string; set?: string[]; "skip-bad"?: boolean } & FlagValues, flags: Record<string, ConfigKey> = {}): Config {
  return loadConfig({
    ...(values.config !== undefined ? { file: values.config } : {}),
    set: values.set ?? [],
    setSource: "--set",
    values: [...(values["skip-bad"] ? [{ key: "data.skipBad" as const, text: "true", source: "--skip-bad" }] : []), ...flagValues(values, flags)],
  });
}

/**
 * A number flag that is not a hyper-parameter, in [min, max]. An empty value (`--threshold=`, as
 * an unset shell variable gives) is refused, never read as 0.
 */
export function numberFlag(flag: string, text: string | undefined, fallback: number, range: { min?: number; max?: number; what?: string } = {}): number {
  if (text === undefined) return fallback;
  const { min = -Infinity, max = Infinity } = range;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < min || value > max) {
    const bounds = max === Infinity ? `>= ${min}` : min === -Infinity ? `<= ${max}` : `from ${min} to ${max}`;
    throw new UsageError(`--${flag} must be ${range.what ?? `a number ${bounds}`}, got '${text}'`);
  }
  return value;
}

const integerRange = (min: number, max: number) => (max !== Number.MAX_SAFE_INTEGER ? `an integer from ${min} to ${max}` : `an integer >= ${min}`);

/** A positive (or, with min 0, non-negative) integer flag that is not a hyper-parameter; `max` bounds it too. */
export function integerFlag(flag: string, text: string | undefined, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === "" || !Number.isInteger(value) || value < min || value > max)
    throw new UsageError(`--${flag} must be ${integerRange(min, max)}, got '${text}'`);
  return value;
}

export function printConfig(config: Config, stream: NodeJS.WritableStream = process.stderr): void {
  stream.write(`# resolved config\n${configToYaml(config)}\n`);
}

/** Prints a result as one JSON line on stdout. */
export function printResult(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

/** Config keys that have a flag of their own, named after the message where it mentions them. */
const KEY_FLAGS: [key: string, flag: string][] = [
  ["data.skipBad", "--skip-bad"],
  ["allowNonFinite", "--allow-non-finite"],
];

function withFlagHints(message: string): string {
  const hints = KEY_FLAGS.filter(([key]) => message.includes(key)).map(([key, flag]) => `${key} is ${flag} on the command line`);
  return hints.length === 0 ? message : `${message}\n(${hints.join("; ")})`;
}

/** Runs a command, mapping errors to messages and exit codes: 2 for what the user typed, 1 otherwise. */
export async function runCommand(fn: () => Promise<number | void>): Promise<void> {
  // the reader of stdout went away (`simclr cache list | head`): nothing left to say, not a crash
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(process.exitCode ?? 0);
  });
  try {
    const code = await fn();
    process.exitCode = code ?? 0;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const code = (err as { code?: unknown }).code;
    const known = err instanceof SimclrError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"));
    if (known) {
      // the error's code closes the first line, so scripts and docs/errors.md can name it
      const [first, ...rest] = withFlagHints(err.message).split("\n");
      process.stderr.write(`simclr: ${first} [${String(code)}]${rest.map((l) => `\n${l}`).join("")}\n`);
    } else {
      // not an error this project throws on purpose: a bug to report, with its stack
      process.stderr.write(`simclr: internal error (please report it with the command that caused it): ${err.stack ?? err.message}\n`);
    }
    if (process.env.SIMCLR_DEBUG && known) process.stderr.write(`${err.stack}\n`);
    const usage = err instanceof UsageError || err instanceof ConfigError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"));
    process.exitCode = err instanceof StoppedError ? 130 : usage ? 2 : 1;
  }
}
