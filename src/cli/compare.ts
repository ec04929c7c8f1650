/** `simclr compare [--html FILE] DIR...`: the runs' evaluation results as a markdown table, or an HTML page with their curves. */
import { parseArgs } from "node:util";
import { comparisonTable } from "../eval/compare.js";
import { compareReport } from "../jobs/run-report.js";
import { UsageError, printResult } from "./common.js";

export const COMPARE_HELP = `simclr compare [--html FILE.html] DIR...

Prints a markdown table, one row per evaluated encoder (each run, its random-init baseline,
raw pixels), with the top-1 of every protocol found in the runs' results.jsonl. With --html,
writes a self-contained page instead: the runs' training curves overlaid (loss, kNN monitor,
online probe) and the same table.`;

export async function compareCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { html: { type: "string" }, help: { type: "boolean" } } });
  if (values.help) {
    process.stdout.write(`${COMPARE_HELP}\n`);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("compare needs one or more run directories");
  if (values.html !== undefined) {
    const result = await compareReport(positionals, values.html);
    printResult({ out: result.out, bytes: result.bytes, runs: positionals.length, charts: result.charts });
    return 0;
  }
  process.stdout.write(`${comparisonTable(positionals)}\n`);
  return 0;
}
