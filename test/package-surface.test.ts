/**
 * The package root is the training library: importing it loads no web server, no charting
 * and no ANN index. Those are the subpath exports simclr/serve, simclr/report and
 * simclr/search, which load their own dependencies. Checked at run time: a module resolve
 * hook records every package a fresh process imports.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const DIST_SRC = resolve(fileURLToPath(import.meta.url), "..", "..", "src");
const HEAVY = ["fastify", "@fastify/multipart", "vega", "vega-lite", "umap-js", "hnswlib-node"];

/** Every bare package specifier a fresh process resolves while importing `entry` (a path under dist/src). */
function packagesLoadedBy(entry: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), "simclr-surface-"));
  const log = join(dir, "loaded.txt");
  const hooks = `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  if (!/^(\\.|\\/|node:|file:|data:)/.test(specifier)) appendFileSync(${JSON.stringify(log)}, specifier + "\\n");
  return next(specifier, context);
}`;
  const register = `import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
  execFileSync(
    process.execPath,
    [
      "--import",
      `data:text/javascript,${encodeURIComponent(register)}`,
      "--input-type=module",
      "-e",
      `await import(${JSON.stringify(pathToFileURL(join(DIST_SRC, entry)).href)});`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return [
    ...new Set(
      readFileSync(log, "utf-8")
        .split("\n")
        .filter((l) => l !== ""),
    ),
  ];
}

test("importing the package root loads none of Fastify, vega, umap-js or hnswlib", () => {
  const loaded = packagesLoadedBy("index.js");
  assert.ok(loaded.includes("sharp") || loaded.includes("yaml"), `the hook sees the root's own dependencies: ${loaded.join(", ")}`);
  assert.deepEqual(
    loaded.filter((p) => HEAVY.includes(p)),
    [],
  );
});

test("the subpath exports load their own dependencies (the check above would see them)", () => {
  assert.ok(packagesLoadedBy("entry/serve.js").includes("fastify"));
  assert.ok(packagesLoadedBy("entry/report.js").includes("vega"));
  assert.ok(packagesLoadedBy("entry/search.js").includes("hnswlib-node"));
});

test("package.json exports the root and the three subpaths, each to a built file", () => {
  const pkg = JSON.parse(readFileSync(resolve(DIST_SRC, "..", "..", "package.json"), "utf-8")) as { exports: Record<string, { default: string }> };
  assert.deepEqual(Object.keys(pkg.exports), [".", "./search", "./serve", "./report"]);
  for (const [, target] of Object.entries(pkg.exports)) assert.ok(target.default.startsWith("./dist/src/"), target.default);
});
