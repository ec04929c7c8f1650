/** `simclr compare DIR...`: a markdown table of the runs' evaluation results. */
import { comparisonTable } from "../eval/compare.js";
import { UsageError } from "./common.js";

export const COMPARE_HELP = `simclr compare DIR...

Prints a markdown table, one row per evaluated encoder (each run, its random-init baseline,
raw pixels), with the top-1 of every protocol found in the runs' results.jsonl.`;

export async function compareCommand(argv: string[]): Promise<number> {
  if (argv.includes("--help")) {
    process.stdout.write(`${COMPARE_HELP}\n`);
    return 0;
  }
  if (argv.length === 0) throw new UsageError("compare needs one or more run directories");
  process.stdout.write(`${comparisonTable(argv)}\n`);
  return 0;
}
