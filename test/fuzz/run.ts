/**
 * `npm run fuzz`: the parsers' fuzz targets (targets.ts) for a long run with a fresh seed.
 *   node dist/test/fuzz/run.js [--runs N] [--seed S] [--target safetensors|idx|cifar|config]
 * Prints one JSON line per target: runs, seed, failures (the shrunk counterexample when one
 * is found), seconds, and RSS before/after (bounded memory: the parsers allocate per input
 * and must free it). Exits 1 when a target fails.
 */
import fc from "fast-check";
import { liveTensorCount } from "../../src/index.js";
import { TARGETS, property } from "./targets.js";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const runs = Number(flag("runs") ?? 20_000);
const seed = Number(flag("seed") ?? Date.now() % 2 ** 31);
const only = flag("target");
let failed = false;
for (const target of TARGETS.filter((t) => only === undefined || t.name === only)) {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const tensorsBefore = liveTensorCount();
  const started = performance.now();
  let count = 0;
  // RSS is sampled as it goes: a leak grows it with the run count
  const sampled = property(target, () => {
    if (++count % 1000 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  });
  const details = fc.check(sampled, { seed, numRuns: runs });
  global.gc?.();
  const rssAfter = process.memoryUsage().rss;
  const result = {
    target: target.name,
    runs: details.numRuns,
    seed,
    failed: details.failed,
    counterexample: details.failed
      ? String(
          details.counterexample?.[0] instanceof Uint8Array
            ? Buffer.from(details.counterexample[0]).toString("base64")
            : JSON.stringify(details.counterexample),
        )
      : null,
    error: details.failed ? String(details.errorInstance) : null,
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    rssBeforeMiB: Math.round(rssBefore / 2 ** 20),
    rssPeakMiB: Math.round(Math.max(peak, rssAfter) / 2 ** 20),
    rssAfterMiB: Math.round(rssAfter / 2 ** 20),
    tensorsLeft: liveTensorCount() - tensorsBefore,
  };
  failed ||= details.failed || result.tensorsLeft !== 0;
  console.log(JSON.stringify(result));
}
process.exit(failed ? 1 : 0);
