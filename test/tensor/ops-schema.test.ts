/**
 * Every operator the TS layer declares (op("aten::...", overload)) must exist in the linked
 * libtorch. An Op resolves lazily, so without this test a misspelt name or an overload that
 * a libtorch version lacks fails only when the one code path using it runs.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Op, declaredOps } from "../../src/tensor/op.js";

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/tensor
const sourceRoot = join(here, "..", "..", "..", "src");
const builtRoot = join(here, "..", "..", "src");

/**
 * The built modules whose source declares operators. Found by reading src/ rather than
 * by importing the package root, so a module the root does not re-export is checked too.
 */
function declaringModules(dir = sourceRoot): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...declaringModules(path));
    else if (entry.name.endsWith(".ts") && /\bop\(\s*"/.test(readFileSync(path, "utf-8"))) {
      out.push(join(builtRoot, relative(sourceRoot, path)).replace(/\.ts$/, ".js"));
    }
  }
  return out;
}

/** "label: why" for each op that does not resolve to a schema naming it. */
function unresolved(ops: readonly Op[]): string[] {
  const failures: string[] = [];
  for (const o of ops) {
    try {
      const schema = o.schema; // resolves o.id first
      if (!schema.startsWith(`${o.label}(`)) failures.push(`${o.label}: resolved to the schema ${schema}`);
    } catch (e) {
      failures.push(`${o.label}: ${(e as Error).message}`);
    }
  }
  return failures;
}

test("every operator the TS layer declares resolves against the linked libtorch's schemas", async () => {
  const modules = declaringModules();
  for (const file of modules) await import(pathToFileURL(file).href);
  const ops = declaredOps();
  const labels = ops.map((o) => o.label);
  // the scan found the modules that declare ops (tensor methods, factories, nn.functional)
  for (const expected of ["aten::add.Tensor", "aten::zeros", "aten::conv2d", "aten::set_data"]) {
    assert.ok(labels.includes(expected), `${expected} is not among the ${ops.length} declared ops (modules: ${modules.join(", ")})`);
  }
  const failures = unresolved(ops);
  assert.deepEqual(failures, [], `${failures.length} of ${ops.length} declared operators do not resolve:\n${failures.join("\n")}`);
});

test("a misspelt operator or overload fails to resolve, naming it; `new Op` declares nothing", () => {
  const before = declaredOps().length;
  const noSuchOp = new Op("aten::no_such_op");
  const noSuchOverload = new Op("aten::add", "Tensr");
  assert.throws(() => noSuchOp.id, /libtorch has no operator aten::no_such_op/);
  assert.throws(() => noSuchOverload.id, /libtorch has no operator aten::add\.Tensr/);
  assert.deepEqual(unresolved([noSuchOp, noSuchOverload]), [
    "aten::no_such_op: libtorch has no operator aten::no_such_op",
    "aten::add.Tensr: libtorch has no operator aten::add.Tensr",
  ]);
  assert.equal(declaredOps().length, before, "probes made with `new Op` stay out of the registry");
});
