/**
 * Builds a Config from the schema's defaults, an optional YAML file and `key=value`
 * overrides (later wins), validating every value. Errors name the key and the source.
 */
import { readFileSync } from "node:fs";
import { parse, stringify } from "yaml";
import { SCHEMA, type Config, type ConfigKey, type Field } from "./schema.js";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function isKey(key: string): key is ConfigKey {
  return Object.prototype.hasOwnProperty.call(SCHEMA, key);
}

/** Checks one value against its field; returns it (numbers from YAML are already numbers). */
function check(key: ConfigKey, value: unknown, source: string): unknown {
  const field: Field = SCHEMA[key];
  const where = `${source}: ${key}`;
  if (value === null) {
    if (field.nullable) return null;
    throw new ConfigError(`${where} cannot be null`);
  }
  switch (field.type) {
    case "boolean":
      if (typeof value !== "boolean") throw new ConfigError(`${where} must be true or false, got ${JSON.stringify(value)}`);
      return value;
    case "string":
      if (typeof value !== "string") throw new ConfigError(`${where} must be a string, got ${JSON.stringify(value)}`);
      if (field.choices && !field.choices.includes(value)) throw new ConfigError(`${where} must be one of ${field.choices.join(", ")}, got '${value}'`);
      return value;
    case "integer":
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) throw new ConfigError(`${where} must be a number, got ${JSON.stringify(value)}`);
      if (field.type === "integer" && !Number.isInteger(value)) throw new ConfigError(`${where} must be an integer, got ${value}`);
      if (field.min !== undefined && value < field.min) throw new ConfigError(`${where} must be >= ${field.min}, got ${value}`);
      if (field.max !== undefined && value > field.max) throw new ConfigError(`${where} must be <= ${field.max}, got ${value}`);
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
      throw new ConfigError(`${source}: '${section}' must be a mapping of settings${sections().includes(section) ? "" : ` (known sections: ${sections().join(", ")})`}`);
    }
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      const key = `${section}.${name}`;
      if (!isKey(key)) throw new ConfigError(`${source}: unknown key '${key}'${suggest(key)}`);
      out.set(key, check(key, value, source));
    }
  }
  return out;
}

function sections(): string[] {
  return [...new Set(Object.keys(SCHEMA).map((k) => k.split(".")[0] as string))];
}

/** A hint for a misspelt key: known keys of the same section. */
function suggest(key: string): string {
  const section = key.split(".")[0];
  const known = Object.keys(SCHEMA).filter((k) => k.startsWith(`${section}.`));
  return known.length > 0 ? ` (known in ${section}: ${known.map((k) => k.slice(section!.length + 1)).join(", ")})` : ` (known sections: ${sections().join(", ")})`;
}

/** Parses one `key=value` override; the value is read as a YAML scalar (0.5, true, null, text). */
export function parseOverride(text: string): [ConfigKey, unknown] {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new ConfigError(`--set ${text}: expected key=value, e.g. --set optim.lr=0.5`);
  const key = text.slice(0, eq).trim();
  if (!isKey(key)) throw new ConfigError(`--set: unknown key '${key}'${suggest(key)}`);
  const raw = text.slice(eq + 1);
  let value: unknown;
  try {
    value = parse(raw);
  } catch {
    value = raw;
  }
  if (SCHEMA[key].type === "string" && value !== null && typeof value !== "string") value = raw;
  return [key, check(key, value === undefined ? null : value, "--set")];
}

function build(values: Map<ConfigKey, unknown>): Config {
  const config: Record<string, Record<string, unknown>> = {};
  for (const key of Object.keys(SCHEMA) as ConfigKey[]) {
    const [section, name] = key.split(".") as [string, string];
    config[section] ??= {};
    config[section][name] = values.has(key) ? values.get(key) : SCHEMA[key].default;
  }
  return config as unknown as Config;
}

export interface LoadConfigOptions {
  /** A YAML file of sections. */
  file?: string;
  /** `key=value` overrides, applied after the file. */
  set?: string[];
  /** Values that replace the defaults before the file (e.g. a saved run's config on resume). */
  base?: Partial<Record<ConfigKey, unknown>>;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const values = new Map<ConfigKey, unknown>();
  for (const [k, v] of Object.entries(options.base ?? {})) {
    if (isKey(k)) values.set(k, check(k, v, "saved config"));
  }
  if (options.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.file, "utf-8");
    } catch (e) {
      throw new ConfigError(`${options.file}: cannot read (${(e as Error).message})`);
    }
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (e) {
      throw new ConfigError(`${options.file}: not valid YAML (${(e as Error).message})`);
    }
    for (const [k, v] of flatten(doc, options.file)) values.set(k, v);
  }
  for (const text of options.set ?? []) {
    const [k, v] = parseOverride(text);
    values.set(k, v);
  }
  return build(values);
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
