/**
 * `npm run soak`: the crash-resume soak of soak.ts, long.
 *   node dist/test/soak/run.js [--kills K] [--epochs E] [--seed S] [--dir DIR]
 * Prints each attempt, then one JSON line with the result; exits 1 on any difference.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { soak } from "./soak.js";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const kills = Number(flag("kills", "40"));
const result = await soak({
  dir: flag("dir", mkdtempSync(join(tmpdir(), "simclr-soak-"))),
  kills,
  epochs: Number(flag("epochs", String(Math.max(6, Math.ceil(kills / 2))))),
  seed: Number(flag("seed", String(Date.now() % 2 ** 31))),
  log: (line) => process.stderr.write(`${line}\n`),
});
console.log(JSON.stringify(result));
process.exit(result.differences.length === 0 ? 0 : 1);
