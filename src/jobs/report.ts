/** How jobs report: progress lines to a sink (stderr by default) and results to results.jsonl. */
import { appendJsonLine, runFiles } from "../run/run-dir.js";

/** A line of progress (no newline). */
export type Log = (line: string) => void;

export const stderrLog: Log = (line) => void process.stderr.write(`${line}\n`);

/** Appends a result to DIR/results.jsonl (read by compare) and returns it. */
export function recordResult<T extends Record<string, unknown>>(runDir: string, record: T): T {
  appendJsonLine(runFiles(runDir).results, record);
  return record;
}

export function secondsSince(start: number): number {
  return Number(((performance.now() - start) / 1000).toFixed(1));
}

/** Something a job frees when it ends (tensors, modules). */
export type Owned = { dispose(): void };

/** Runs a job's body with a list it pushes what it makes onto; all of it is freed when the body ends, however it ends. */
export async function disposingAfter<T>(body: (owned: Owned[]) => Promise<T>): Promise<T> {
  const owned: Owned[] = [];
  try {
    return await body(owned);
  } finally {
    for (const o of owned) o.dispose();
  }
}
