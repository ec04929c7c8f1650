/**
 * The library as a dependency: `npm pack` gives a tarball that installs into a fresh project,
 * its install step building the addon against libtorch; `import ... from "simclr"` and the
 * `simclr` bin then work there. Without libtorch the install step names what to install.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { BUILT_ENGINE } from "./helpers.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-${name}-`));
/** hnswlib-node compiles with node-gyp, which would download Node's headers: use Debian's (as setup.sh does). */
const NODEDIR = existsSync("/usr/include/node/node_api.h") && process.env.npm_config_nodedir === undefined ? { npm_config_nodedir: "/usr" } : {};

/**
 * The engine this clone's addon was built against (build/engine.json). A consumer project has no
 * venv of its own, so a pip engine reaches its install step as LIBTORCH: the route users of a
 * pip or zip libtorch take.
 */
const ENGINE = BUILT_ENGINE;
const ENGINE_ENV: NodeJS.ProcessEnv = ENGINE.kind === "system" ? { SIMCLR_ENGINE: "system" } : { LIBTORCH: ENGINE.prefix };

function sh(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { cwd, env, encoding: "utf-8", maxBuffer: 64 * 2 ** 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("npm pack -> npm install into a new project -> import and npx simclr work", () => {
  const packs = tmp("pack");
  // --ignore-scripts: setup has compiled dist/ already, and `prepare` recompiling it here would
  // rewrite files that tests running beside this one are importing.
  const packed = sh("npm", ["pack", "--ignore-scripts", "--pack-destination", packs], ROOT);
  assert.equal(packed.code, 0, packed.stderr);
  const tarball = readdirSync(packs).find((f) => f.endsWith(".tgz"));
  assert.ok(tarball, `no tarball in ${packs}`);

  const app = tmp("consumer");
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", type: "module", private: true }));
  const installed = sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(packs, tarball)], app, {
    ...process.env,
    ...NODEDIR,
    ...ENGINE_ENV,
  });
  assert.equal(installed.code, 0, installed.stderr);
  assert.ok(readdirSync(join(app, "node_modules", "simclr", "build", "Release")).includes("simclr_native.node"), "the install step did not build the addon");

  writeFileSync(
    join(app, "main.js"),
    `import { resnet, randn, noGrad } from "simclr";
const encoder = resnet({ depth: 18, width: 4, cifarStem: true, inChannels: 1 });
const h = noGrad(() => encoder.forward(randn([3, 1, 28, 28])));
console.log(JSON.stringify({ shape: h.shape, finite: h.isfinite().all().item() === 1 }));
`,
  );
  const run = sh("node", ["main.js"], app);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { shape: [3, 32], finite: true });
  // the consumer's addon was built against the same engine as this clone's, and loads it
  const built = JSON.parse(readFileSync(join(app, "node_modules", "simclr", "build", "engine.json"), "utf-8")) as { prefix: string };
  assert.equal(built.prefix, ENGINE.prefix);

  const help = sh("npx", ["--no-install", "simclr", "--help"], app);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /usage: simclr <command>/);
  assert.match(help.stdout, /simclr export --run DIR/);
});

test("npm install from a git URL: prepare compiles, install builds, nothing is fetched from outside npm", () => {
  const app = tmp("git-consumer");
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "git-consumer", version: "1.0.0", type: "module", private: true }));
  // npm installs the development dependencies to run `prepare`; onnxruntime-node among them
  // must not reach NuGet (.npmrc), so the variable setup.sh sets is removed here
  const { ONNXRUNTIME_NODE_INSTALL: _, ...env } = process.env;
  const installed = sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", `git+file://${ROOT}`], app, { ...env, ...NODEDIR, ...ENGINE_ENV });
  assert.equal(installed.code, 0, installed.stderr);
  writeFileSync(
    join(app, "main.js"),
    `import { resnet } from "simclr";\nconsole.log(resnet({ depth: 18, width: 2, cifarStem: true, inChannels: 3 }).featureDim);\n`,
  );
  const run = sh("node", ["main.js"], app);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), "16");
});

test("without libtorch the install step fails and names what to install", () => {
  const pkg = tmp("no-torch");
  cpSync(join(ROOT, "native"), join(pkg, "native"), { recursive: true });
  cpSync(join(ROOT, "CMakeLists.txt"), join(pkg, "CMakeLists.txt"));
  mkdirSync(join(pkg, "scripts"));
  cpSync(join(ROOT, "scripts", "install.mjs"), join(pkg, "scripts", "install.mjs"));
  const r = sh("node", ["scripts/install.mjs"], pkg, { ...process.env, LIBTORCH: join(pkg, "no-libtorch-here") });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot build the native addon: libtorch-dev is missing/);
  assert.match(r.stderr, /apt-get install --no-install-recommends libtorch-dev/);
  assert.match(r.stderr, /LIBTORCH/);
});

test("the install step picks one engine: LIBTORCH, then the project venv, then the system; SIMCLR_ENGINE pins one", () => {
  const pick = (env: NodeJS.ProcessEnv) => {
    const { LIBTORCH: _l, SIMCLR_ENGINE: _e, ...rest } = process.env;
    const r = sh("node", ["scripts/install.mjs", "--print-engine"], ROOT, { ...rest, ...env });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { kind: string; prefix: string | null; origin: string };
  };
  // LIBTORCH wins over everything, when it holds a TorchConfig.cmake
  assert.deepEqual(pick({ LIBTORCH: ENGINE.prefix, SIMCLR_ENGINE: "system" }).prefix, ENGINE.prefix);
  const bad = pick({ LIBTORCH: join(tmp("no-torch-config"), "x") });
  assert.equal(bad.kind, "none");
  assert.match(bad.origin, /holds no TorchConfig\.cmake/);
  assert.match(pick({ SIMCLR_ENGINE: "conda" }).origin, /SIMCLR_ENGINE must be system or pip, got 'conda'/);
  const venv = existsSync(join(ROOT, ".venv"));
  const pinnedPip = pick({ SIMCLR_ENGINE: "pip" });
  if (venv) assert.equal(pinnedPip.kind, "venv");
  else assert.match(pinnedPip.origin, /has no torch/);
  // the system pin never takes the venv
  assert.notEqual(pick({ SIMCLR_ENGINE: "system" }).kind, "venv");
  // and the engine this clone was built against is what the install step picks with no pin
  assert.equal(
    pick(ENGINE.kind === "system" ? { SIMCLR_ENGINE: "system" } : ENGINE.kind === "libtorch" ? { LIBTORCH: ENGINE.prefix } : {}).prefix,
    ENGINE.prefix,
  );
});
