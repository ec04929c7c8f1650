/**
 * Runs the bad-input corpus (corpus.ts): each case on its own copy of the fixtures, checking
 * the exact error (class or CLI code and exit status), that the message names the input, and
 * that what must not change is byte for byte the same.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { before, describe, test } from "node:test";
import { Tensor } from "../../src/index.js";
import { CLI } from "../helpers.js";
import { CASES, type BadInput } from "./corpus.js";
import { caseContext, makeFixtures, type SharedFixtures } from "./fixtures.js";

/** sha256 of every file under `path` (a file or a folder), by relative path; absent: {}. */
function snapshot(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(path)) return out;
  const walk = (p: string) => {
    if (statSync(p).isDirectory()) for (const name of readdirSync(p).sort()) walk(join(p, name));
    else out[relative(path, p) || "."] = createHash("sha256").update(readFileSync(p)).digest("hex");
  };
  walk(path);
  return out;
}

function runCli(argv: string[]): Promise<{ exit: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...argv], { encoding: "utf-8", maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      resolve({ exit: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr });
    });
  });
}

function show(value: unknown): string {
  if (value instanceof Tensor) return JSON.stringify(Array.from(value.dataAsNumbers(), Number));
  return String(value);
}

async function check(c: BadInput, dir: string, shared: SharedFixtures): Promise<void> {
  const made = c.setup(caseContext(dir, shared));
  const before = Object.fromEntries((c.unchanged ?? []).map((p) => [p, snapshot(join(dir, p))]));
  const { expect } = c;
  if ("argv" in made) {
    const out = await runCli(made.argv);
    const text = `${out.stdout}${out.stderr}`;
    assert.doesNotMatch(out.stderr, /internal error/, `${c.id}: an error this project does not throw on purpose:\n${out.stderr}`);
    assert.equal(out.exit, expect.exit ?? 1, `${c.id}: exit status (stderr: ${out.stderr.slice(-2000)})`);
    if (expect.code !== undefined) assert.match(out.stderr, new RegExp(`\\[${expect.code}\\]`), `${c.id}: error code`);
    assert.match(expect.exit === 0 ? text : out.stderr, expect.message, `${c.id}: message`);
  } else {
    let result: unknown;
    let error: unknown = null;
    try {
      result = await made.call();
    } catch (e) {
      error = e;
    }
    if (expect.errorClass === undefined) {
      assert.equal(error, null, `${c.id}: threw ${String(error)}`);
      assert.match(show(result), expect.message, `${c.id}: result`);
    } else {
      assert.ok(
        error instanceof expect.errorClass,
        `${c.id}: expected ${expect.errorClass.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`,
      );
      assert.match((error as Error).message, expect.message, `${c.id}: message`);
    }
  }
  for (const [p, hashes] of Object.entries(before)) assert.deepEqual(snapshot(join(dir, p)), hashes, `${c.id}: ${p} changed`);
}

describe(`the bad-input corpus: ${CASES.length} cases`, { concurrency: 2 }, () => {
  let shared: SharedFixtures;
  let root = "";
  before(async () => {
    root = mkdtempSync(join(tmpdir(), "simclr-bad-inputs-"));
    shared = await makeFixtures(join(root, "_fixtures"));
  });

  test("has at least 80 cases with distinct ids, in every group", () => {
    assert.ok(CASES.length >= 80, `${CASES.length} cases`);
    assert.equal(new Set(CASES.map((c) => c.id)).size, CASES.length);
    for (const g of [
      "1 run directory",
      "2 resume",
      "3 wrong results",
      "4 interruptions",
      "5 sizes and arguments",
      "6 server",
      "7 indexes and folders",
      "8 silent results",
      "9 moving and restarting",
      "10 distributed",
      "parse",
      "config",
    ])
      assert.ok(
        CASES.some((c) => c.group === g),
        g,
      );
  });

  for (const c of CASES) test(`${c.group}: ${c.id}: ${c.what}`, () => check(c, join(root, c.id), shared));
});
