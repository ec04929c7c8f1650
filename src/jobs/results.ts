/** What evaluation jobs record: results appended to DIR/results.jsonl (read by compare), with their timing. */
import { appendJsonLine, runFiles } from "../run/run-dir.js";

/** Appends a result to DIR/results.jsonl and returns it. */
export function recordResult<T extends Record<string, unknown>>(runDir: string, record: T): T {
  appendJsonLine(runFiles(runDir).results, record);
  return record;
}

export function secondsSince(start: number): number {
  return Number(((performance.now() - start) / 1000).toFixed(1));
}
