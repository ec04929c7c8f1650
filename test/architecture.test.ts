/**
 * The layering of docs/architecture.md, checked on the source: every import goes to a lower
 * layer or within a folder, train and eval never import each other, nothing imports the CLI,
 * the CLI reaches the library only through jobs (and config, errors, the comparison table),
 * and no file imports itself back through a cycle.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "src");

/** Layer of each top-level folder or file of src/, bottom first. */
export const LAYERS: Record<string, number> = {
  native: 0,
  errors: 0,
  io: 0.5,
  tensor: 1,
  config: 1,
  distributed: 1.5,
  nn: 2,
  optim: 3,
  augment: 3,
  losses: 3,
  data: 3,
  models: 4,
  recipe: 5,
  run: 6,
  train: 7,
  eval: 7,
  search: 7.25,
  report: 7.5,
  jobs: 8,
  cli: 9,
  demo: 9,
  index: 10,
  entry: 10,
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith(".ts") ? [path] : [];
  });
}

/** "train/pretrain.ts" -> "train"; "errors.ts" -> "errors". */
function unit(file: string): string {
  const rel = relative(SRC, file);
  const first = rel.split("/")[0] ?? rel;
  return first.replace(/\.ts$/, "");
}

function imports(file: string): string[] {
  const text = readFileSync(file, "utf-8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/g)) {
    const spec = m[1];
    if (spec !== undefined) out.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
  }
  return out;
}

const files = sources(SRC);
const graph = new Map(files.map((f) => [f, imports(f)]));

test("every source file belongs to a layer", () => {
  for (const f of files) assert.ok(unit(f) in LAYERS, `${relative(SRC, f)} is in no layer of docs/architecture.md`);
});

test("imports go only downward (or within a folder); train and eval are independent", () => {
  const bad: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const [a, b] = [unit(from), unit(to)];
      if (a === b) continue;
      if ((LAYERS[b] ?? 99) >= (LAYERS[a] ?? -1)) bad.push(`${relative(SRC, from)} -> ${relative(SRC, to)} (${a} ${LAYERS[a]} -> ${b} ${LAYERS[b]})`);
    }
  }
  assert.deepEqual(bad, []);
});

test("the CLI reaches the library through jobs, config, errors and the io ground floor only", () => {
  const allowed = new Set(["jobs", "config", "errors", "io", "cli"]);
  const bad: string[] = [];
  for (const [from, targets] of graph) {
    if (unit(from) !== "cli") continue;
    for (const to of targets) {
      const rel = relative(SRC, to);
      if (!allowed.has(unit(to)) && rel !== "eval/compare.ts") bad.push(`${relative(SRC, from)} -> ${rel}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("no import cycle between files", () => {
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "open") {
      cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(" -> "));
      return;
    }
    state.set(f, "open");
    for (const t of graph.get(f) ?? []) visit(t, [...path, f]);
    state.set(f, "done");
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});

test("the checker sees imports (it would catch an upward one)", () => {
  const pretrain = files.find((f) => relative(SRC, f) === "train/pretrain.ts");
  assert.ok(pretrain !== undefined);
  assert.ok((graph.get(pretrain) ?? []).some((t) => relative(SRC, t) === "run/checkpoint.ts"));
  assert.ok(LAYERS.run! < LAYERS.train!);
});

/** The flags the CLI defines (its parseArgs options), read from src/cli/. */
function cliFlags(): Set<string> {
  const flags = new Set<string>();
  for (const f of files.filter((f) => unit(f) === "cli")) {
    for (const m of readFileSync(f, "utf-8").matchAll(/["']?([a-z][a-zA-Z-]*)["']?: \{ type: "(?:string|boolean)"/g)) flags.add(m[1] as string);
  }
  return flags;
}

/** The code of `file` without its comments, and with its string literals kept. */
function codeOf(file: string): string {
  return readFileSync(file, "utf-8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

test("no CLI flag is named below the CLI: library code names its options, the CLI maps flags onto them", () => {
  const flags = cliFlags();
  assert.ok(flags.has("set") && flags.has("out") && flags.has("force"), "the flag list is read from src/cli/");
  const bad: string[] = [];
  for (const f of files.filter((f) => !["cli", "demo"].includes(unit(f)))) {
    for (const m of codeOf(f).matchAll(/(?<![\w-])--([a-z][a-z-]*)/g)) if (flags.has(m[1] as string)) bad.push(`${relative(SRC, f)}: --${m[1]}`);
  }
  assert.deepEqual(bad, []);
});

test("train/ reads no config key: the recipe turns the config into the options it receives", () => {
  const bad: string[] = [];
  for (const f of files.filter((f) => unit(f) === "train")) {
    const code = codeOf(f);
    for (const m of code.matchAll(/\bconfig\.(train|loss|optim|model|head|augment|data|monitor|eval|dist|finetune|supervised)\b/g))
      bad.push(`${relative(SRC, f)}: config.${m[1]}`);
    if (/from "\.\.\/config\//.test(code)) bad.push(`${relative(SRC, f)} imports config/`);
  }
  assert.deepEqual(bad, []);
});

test("data/ does not stand on nn/ (atomic writes and locks are the io ground floor's)", () => {
  const bad = [...graph].flatMap(([from, targets]) =>
    unit(from) === "data" ? targets.filter((t) => unit(t) === "nn").map((t) => `${relative(SRC, from)} -> ${relative(SRC, t)}`) : [],
  );
  assert.deepEqual(bad, []);
});
