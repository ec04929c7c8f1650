/**
 * The comparison table: one row per evaluated encoder, read from runs' results.jsonl, with
 * the latest result of each protocol per (run, encoder) — the paper's way of reading a
 * representation against random initialisation, raw pixels and supervised training.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../errors.js";

export interface ResultLine {
  protocol: string;
  top1: number;
  encoder?: string;
  [key: string]: unknown;
}

/** The columns, by protocol name as written in results.jsonl. */
const COLUMNS: [string, string][] = [
  ["linear", "linear top-1"],
  ["linear-1%", "1% labels linear top-1"],
  ["linear-10%", "10% labels linear top-1"],
  ["knn", "kNN top-1"],
  ["finetune-1%", "1% fine-tune top-1"],
  ["finetune-10%", "10% fine-tune top-1"],
  ["supervised", "supervised top-1"],
];

export function readResults(runDir: string): ResultLine[] {
  const path = join(runDir, "results.jsonl");
  if (!existsSync(path)) throw new DataError(path, `${runDir} has no results: evaluate it first`);
  return readFileSync(path, "utf-8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .flatMap((l, i) => {
      try {
        return [JSON.parse(l) as ResultLine];
      } catch {
        throw new DataError(`${path}:${i + 1}`, "is not JSON");
      }
    });
}

/** Row label for a result: the run, and the encoder unless it is the run's own checkpoint. */
function rowName(runDir: string, r: ResultLine): string {
  if (r.encoder === "random-init") return `${runDir} (random init)`;
  if (r.encoder === "raw-pixels") return "raw pixels";
  return runDir;
}

export interface ComparisonRows {
  /** Column titles after "encoder". */
  columns: string[];
  /** Row name and, per column, top-1 as a fraction or null. */
  rows: { name: string; values: (number | null)[] }[];
}

/** The comparison as data: the paper's protocols first, then any other found. */
export function comparisonRows(runDirs: string[]): ComparisonRows {
  const rows = new Map<string, Map<string, number>>();
  for (const dir of runDirs) {
    for (const r of readResults(dir)) {
      const name = rowName(dir, r);
      if (!rows.has(name)) rows.set(name, new Map());
      rows.get(name)!.set(r.protocol, r.top1); // later lines win
    }
  }
  const found = new Set([...rows.values()].flatMap((m) => [...m.keys()]));
  // The paper's columns first, then any other protocol found (e.g. finetune-25-per-class).
  const used = [
    ...COLUMNS.filter(([p]) => found.has(p)),
    ...[...found]
      .filter((p) => !COLUMNS.some(([q]) => q === p))
      .sort()
      .map((p): [string, string] => [p, `${p} top-1`]),
  ];
  return {
    columns: used.map(([, t]) => t),
    rows: [...rows].map(([name, m]) => ({ name, values: used.map(([p]) => m.get(p) ?? null) })),
  };
}

export const percent = (v: number | null): string => (v === null ? "" : `${(v * 100).toFixed(1)}%`);

/** The comparison as a markdown table. */
export function comparisonTable(runDirs: string[]): string {
  const { columns, rows } = comparisonRows(runDirs);
  const header = `| encoder | ${columns.join(" | ")} |`;
  const rule = `| --- | ${columns.map(() => "---:").join(" | ")} |`;
  const body = rows.map((r) => `| ${r.name} | ${r.values.map(percent).join(" | ")} |`);
  return [header, rule, ...body].join("\n");
}
