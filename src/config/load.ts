/**
 * Builds a Config from the schema's defaults, an optional YAML file and `key=value`
 * overrides (later wins), validating every value. Errors name the key and the source.
 */
import { readFileSync } from "node:fs";
import { parse, stringify } from "yaml";
import { ConfigError } from "../errors.js";
import { LOCATION_KEYS, SCHEMA, SECTIONS, type Config, type ConfigKey, type Field } from "./schema.js";

export { ConfigError };

export function isConfigKey(key: string): key is ConfigKey {
  return Object.prototype.hasOwnProperty.call(SCHEMA, key);
}

/** Checks one value against its field; returns it (numbers from YAML are already numbers). */
export function checkValue(key: ConfigKey, value: unknown, source: string): unknown {
  const field: Field = SCHEMA[key];
  const where = `${source}: ${key}`;
  const fail = (message: string): never => {
    throw new ConfigError(`${where} ${message}`, key);
  };
  if (value === null) {
    if (field.nullable) return null;
    fail("cannot be null");
  }
  switch (field.type) {
    case "boolean":
      if (typeof value !== "boolean") fail(`must be true or false, got ${JSON.stringify(value)}`);
      return value;
    case "string":
      if (typeof value !== "string") return fail(`must be a string, got ${JSON.stringify(value)}`);
      if (field.choices && !field.choices.includes(value)) fail(`must be one of ${field.choices.join(", ")}, got '${value}'`);
      if (field.pattern && !new RegExp(field.pattern.regex).test(value)) fail(`must be ${field.pattern.hint}, got '${value}'`);
      return value;
    case "integer":
    case "number": {
      const kind = field.type === "integer" ? "an integer" : "a number";
      if (typeof value !== "number") return fail(`must be ${kind}, got ${JSON.stringify(value)}`);
      // String(), not JSON: JSON writes Infinity and NaN as null, which the user never wrote.
      if (!Number.isFinite(value)) return fail(`must be ${kind} (finite), got ${String(value)}`);
      if (field.type === "integer" && !Number.isInteger(value)) fail(`must be an integer, got ${value}`);
      if (field.min !== undefined && value < field.min) fail(`must be >= ${field.min}, got ${value}`);
      if (field.max !== undefined && value > field.max) fail(`must be <= ${field.max}, got ${value}`);
      if (field.oneOf !== undefined && !field.oneOf.includes(value)) fail(`must be one of ${field.oneOf.join(", ")}, got ${value}`);
      return value;
    }
  }
}

/** Flattens a parsed YAML document into dotted keys, rejecting unknown ones. */
function flatten(doc: unknown, source: string): Map<ConfigKey, unknown> {
  const out = new Map<ConfigKey, unknown>();
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== "object" || Array.isArray(doc)) throw new ConfigError(`${source}: the top level must be a mapping of sections (data, model, ...)`);
  for (const [section, body] of Object.entries(doc as Record<string, unknown>)) {
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new ConfigError(
        `${source}: '${section}' must be a mapping of settings${sections().includes(section) ? "" : ` (known sections: ${sections().join(", ")})`}`,
      );
    }
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      const key = `${section}.${name}`;
      if (!isConfigKey(key)) throw new ConfigError(`${source}: unknown key '${key}'${suggest(key)}`, key);
      out.set(key, checkValue(key, value, source));
    }
  }
  return out;
}

function sections(): readonly string[] {
  return SECTIONS;
}

/** A hint for a misspelt key: known keys of the same section. */
function suggest(key: string): string {
  const section = key.split(".")[0];
  const known = Object.keys(SCHEMA).filter((k) => k.startsWith(`${section}.`));
  return known.length > 0
    ? ` (known in ${section}: ${known.map((k) => k.slice(`${section}.`.length)).join(", ")})`
    : ` (known sections: ${sections().join(", ")})`;
}

/** Parses one `key=value` override; the value is read as a YAML scalar (0.5, true, null, text). */
export function parseOverride(text: string, source = "override"): [ConfigKey, unknown] {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new ConfigError(`${source} '${text}': expected key=value, e.g. optim.lr=0.5`);
  const key = text.slice(0, eq).trim();
  if (!isConfigKey(key)) throw new ConfigError(`${source}: unknown key '${key}'${suggest(key)}`, key);
  return [key, parseValue(key, text.slice(eq + 1), source)];
}

/** Reads `raw` as a YAML scalar and checks it as the value of `key`; errors name `source`. */
export function parseValue(key: ConfigKey, raw: string, source: string): unknown {
  let value: unknown;
  try {
    value = parse(raw);
  } catch {
    value = raw;
  }
  if (SCHEMA[key].type === "string" && value !== null && typeof value !== "string") value = raw;
  return checkValue(key, value === undefined ? null : value, source);
}

function build(values: Map<ConfigKey, unknown>): Config {
  const config: Record<string, Record<string, unknown>> = {};
  for (const key of Object.keys(SCHEMA) as ConfigKey[]) {
    const [section, name] = key.split(".") as [string, string];
    const body = (config[section] ??= {});
    body[name] = values.has(key) ? values.get(key) : SCHEMA[key].default;
  }
  // Every key was set from the schema or a checked value, so this is a Config.
  return config as unknown as Config;
}

/** One value given outside a file, e.g. by a command-line flag: `source` names it in errors. */
export interface ConfigValue {
  key: ConfigKey;
  /** The text as typed, read as a YAML scalar. */
  text: string;
  source: string;
}

export interface LoadConfigOptions {
  /** A YAML file of sections. */
  file?: string;
  /** `key=value` overrides, applied after the file. */
  set?: string[];
  /** Where `set` came from, for errors (default "override"; the CLI says "--set"). */
  setSource?: string;
  /** Single values, applied last (the CLI's own flags). */
  values?: ConfigValue[];
  /** A config that replaces the defaults (e.g. a saved run's). */
  base?: Config;
  /** When given, only keys of these sections may be set by `file`, `set` and `values`. */
  sections?: readonly (keyof Config)[];
}

/** Defaults, then `base`, then the file, then `set`, then `values`; every value is checked. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  if (options === null || typeof options !== "object")
    throw new ConfigError(`loadConfig(options) must be an object, got ${options === null ? "null" : typeof options}`);
  for (const list of ["set", "values", "sections"] as const) {
    if (options[list] !== undefined && !Array.isArray(options[list]))
      throw new ConfigError(`loadConfig(options.${list}) must be an array, got ${typeof options[list]}`);
  }
  if (options.set?.some((s) => typeof s !== "string")) throw new ConfigError("loadConfig(options.set) must hold key=value strings");
  const values = new Map<ConfigKey, unknown>();
  if (options.base !== undefined) for (const [k, v] of flattenConfig(options.base)) values.set(k, checkValue(k, v, "saved config"));
  const allowed = (key: ConfigKey, source: string): void => {
    const section = key.split(".")[0] as keyof Config;
    if (options.sections !== undefined && !options.sections.includes(section)) {
      throw new ConfigError(`${source}: ${key} cannot be changed here (only ${options.sections.map((s) => `${s}.*`).join(", ")})`, key);
    }
  };
  if (options.file !== undefined) {
    for (const [k, v] of readConfigFile(options.file)) {
      allowed(k, options.file);
      values.set(k, v);
    }
  }
  const setSource = options.setSource ?? "override";
  for (const text of options.set ?? []) {
    const [k, v] = parseOverride(text, setSource);
    allowed(k, setSource);
    values.set(k, v);
  }
  for (const { key, text, source } of options.values ?? []) {
    allowed(key, source);
    values.set(key, parseValue(key, text, source));
  }
  return build(values);
}

/** A YAML config file's settings by dotted key, unknown keys refused; errors name the file. */
function readConfigFile(file: string): Map<ConfigKey, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf-8");
  } catch (e) {
    throw new ConfigError(`${file}: cannot read (${(e as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid YAML (${(e as Error).message})`);
  }
  return flatten(doc, file);
}

/** The keys a YAML config file sets, for commands whose defaults yield to the user's. */
export function configFileKeys(file: string): Set<ConfigKey> {
  return new Set(readConfigFile(file).keys());
}

/** A config from its saved YAML text (validated the same way). */
export function configFromYaml(text: string, source: string): Config {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new ConfigError(`${source}: not valid YAML (${(e as Error).message})`);
  }
  return build(flatten(doc, source));
}

/**
 * Checks a Config handed to a job (pretrain, finetune, evaluate, ...) by a library caller:
 * every section present and every value valid, as loadConfig would have made it. `where`
 * names the call ("pretrain(config)"). Build configs with loadConfig() to get one.
 */
export function checkConfig(config: unknown, where: string): void {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new ConfigError(
      `${where} must be a config object (build one with loadConfig()), got ${config === null ? "null" : Array.isArray(config) ? "an array" : typeof config}`,
    );
  }
  for (const key of Object.keys(SCHEMA) as ConfigKey[]) {
    const [section, name] = key.split(".") as [string, string];
    const body = (config as Record<string, unknown>)[section];
    if (body === null || typeof body !== "object") throw new ConfigError(`${where}: section '${section}' is missing (build configs with loadConfig())`, key);
    if (!(name in body)) throw new ConfigError(`${where}: ${key} is missing (build configs with loadConfig())`, key);
    checkValue(key, (body as Record<string, unknown>)[name], where);
  }
}

/** A config from its flat key -> value form (as a checkpoint stores it), every value checked; keys it lacks take their defaults. */
export function configFromFlat(record: Record<string, unknown>, source: string): Config {
  const values = new Map<ConfigKey, unknown>();
  for (const [k, v] of Object.entries(record)) {
    if (!isConfigKey(k)) throw new ConfigError(`${source}: unknown config key '${k}'`);
    values.set(k, checkValue(k, v, source));
  }
  return build(values);
}

export function configToYaml(config: Config): string {
  return stringify(config);
}

/** The flat key=value view, for comparing two configs. */
export function flattenConfig(config: Config): Map<ConfigKey, unknown> {
  const out = new Map<ConfigKey, unknown>();
  for (const key of Object.keys(SCHEMA) as ConfigKey[]) {
    const [section, name] = key.split(".") as [keyof Config, string];
    out.set(key, (config[section] as Record<string, unknown>)[name]);
  }
  return out;
}

/** Keys whose values differ between two configs, in schema order, apart from `ignore`. */
export function configDifferences(a: Config, b: Config, ignore: readonly ConfigKey[] = []): ConfigKey[] {
  const fa = flattenConfig(a);
  const fb = flattenConfig(b);
  return [...fa.keys()].filter((k) => !ignore.includes(k) && JSON.stringify(fa.get(k)) !== JSON.stringify(fb.get(k)));
}

/**
 * A saved run's config with location keys changed (`--set data.path=... ` on resume): every
 * override is checked as usual, and one that would change the recipe is refused, naming the
 * keys that may change.
 */
export function withLocationOverrides(saved: Config, set: readonly string[], setSource: string): Config {
  checkLocationOverrides(set, setSource);
  return loadConfig({ base: saved, set: [...set], setSource });
}

/** Every `key=value` of `set` is well-formed and sets a location key; else a ConfigError naming the keys that may change. */
export function checkLocationOverrides(set: readonly string[], setSource: string): void {
  const keys = set.map((text) => parseOverride(text, setSource)[0]);
  const refused = keys.filter((k) => !LOCATION_KEYS.includes(k));
  if (refused.length > 0) {
    throw new ConfigError(
      `${setSource}: ${refused.join(", ")} cannot change when a run resumes (the run's recipe stays as it started); ` +
        `the keys that may: ${LOCATION_KEYS.join(", ")}`,
      refused[0],
    );
  }
}

/** `saved` with the location keys of `from` (the given config of `--resume auto`). */
export function withLocationsOf(saved: Config, from: Config): Config {
  const flat = flattenConfig(saved);
  const source = flattenConfig(from);
  for (const k of LOCATION_KEYS) flat.set(k, source.get(k));
  return configFromFlat(Object.fromEntries(flat), "the given config");
}
