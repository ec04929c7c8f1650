#!/usr/bin/env node
// npm's install step for this package (and for projects that depend on it), and the one place
// that decides which libtorch (the "engine") the native addon is built against:
//   1. LIBTORCH=/path        a libtorch folder: an official libtorch zip, or the torch/ folder of a pip install
//   2. the project's venv    .venv/ beside this package, made by `SIMCLR_ENGINE=pip bash scripts/setup.sh`
//                            (pip's torch==2.13.0, CPU)
//   3. the system            Debian/Ubuntu libtorch-dev (1.13.1 on Debian 12)
//   4. python3's torch       a pip/conda torch importable by python3 on PATH
// SIMCLR_ENGINE=system or SIMCLR_ENGINE=pip pins 3 or 2 (so a venv beside the clone does not
// change what `npm test` builds against). It builds native/ -> build/Release/simclr_native.node
// with cmake-js, and records the engine in build/engine.json; it rebuilds when a source is
// newer than the addon or the engine changed. When something is missing it says what to install
// and fails, rather than leaving a package that cannot load.
//   node scripts/install.mjs                 build if needed
//   node scripts/install.mjs --print-engine  print the engine it would use, as JSON ({kind:"none"} if none)
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { arch, availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const addon = join(root, "build", "Release", "simclr_native.node");
const stampPath = join(root, "build", "engine.json");
const say = (text) => process.stderr.write(`simclr install: ${text}\n`);

const hasTorchConfig = (prefix) => ["share/cmake/Torch", "Torch", "."].some((d) => existsSync(join(prefix, d, "TorchConfig.cmake")));

/** The torch/ folder of a Python's torch install, or null. */
function pythonTorch(python) {
  try {
    const prefix = execFileSync(python, ["-c", "import os, torch; print(os.path.dirname(torch.__file__))"], { encoding: "utf-8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    return hasTorchConfig(prefix) ? prefix : null;
  } catch {
    return null; // no such Python, or no torch in it
  }
}

/** The project venv's torch/ folder, found on disk (no Python started), or null. */
export function venvTorch() {
  const lib = join(root, ".venv", "lib");
  if (!existsSync(lib)) return null;
  for (const py of readdirSync(lib)) {
    const prefix = join(lib, py, "site-packages", "torch");
    if (hasTorchConfig(prefix)) return prefix;
  }
  return null;
}

/** { kind: "libtorch" | "venv" | "system" | "python" | "none", prefix, origin }. */
export function findEngine(env = process.env) {
  const pinned = env.SIMCLR_ENGINE ?? "";
  if (!["", "system", "pip"].includes(pinned)) return { kind: "none", prefix: null, origin: `SIMCLR_ENGINE must be system or pip, got '${pinned}'` };
  if (env.LIBTORCH) {
    return hasTorchConfig(env.LIBTORCH)
      ? { kind: "libtorch", prefix: env.LIBTORCH, origin: `LIBTORCH=${env.LIBTORCH}` }
      : { kind: "none", prefix: null, origin: `LIBTORCH=${env.LIBTORCH} holds no TorchConfig.cmake (looked in share/cmake/Torch, Torch and the folder itself)` };
  }
  if (pinned !== "system") {
    const venv = venvTorch();
    if (venv) return { kind: "venv", prefix: venv, origin: `the project's venv (${venv})` };
    if (pinned === "pip") return { kind: "none", prefix: null, origin: `SIMCLR_ENGINE=pip but ${join(root, ".venv")} has no torch (SIMCLR_ENGINE=pip bash scripts/setup.sh makes it)` };
  }
  const triplet = { x64: "x86_64", arm64: "aarch64" }[arch()] ?? arch();
  const system = `/usr/lib/${triplet}-linux-gnu`;
  if (existsSync(join(system, "cmake", "Torch", "TorchConfig.cmake"))) return { kind: "system", prefix: join(system, "cmake"), origin: "the system's libtorch-dev" };
  if (pinned !== "system") {
    for (const python of ["python3", "python"]) {
      const prefix = pythonTorch(python);
      if (prefix) return { kind: "python", prefix, origin: `${python}'s torch (${prefix})` };
    }
  }
  return { kind: "none", prefix: null, origin: "no libtorch found" };
}

function newestSource() {
  const files = [join(root, "CMakeLists.txt"), ...readdirSync(join(root, "native")).map((f) => join(root, "native", f))];
  return Math.max(...files.map((f) => statSync(f).mtimeMs));
}

function builtFor() {
  try {
    return JSON.parse(readFileSync(stampPath, "utf-8")).prefix ?? null;
  } catch {
    return null;
  }
}

const has = (command) => spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;

function main() {
  const engine = findEngine();
  if (process.argv.includes("--print-engine")) {
    process.stdout.write(`${JSON.stringify(engine)}\n`);
    return 0;
  }
  if (engine.kind !== "none" && existsSync(addon) && builtFor() === engine.prefix && statSync(addon).mtimeMs >= newestSource()) return 0;

  const missing = [];
  if (engine.kind === "none") missing.push("libtorch-dev");
  if (!has("cmake")) missing.push("cmake");
  if (!has("g++") && !has("c++")) missing.push("g++");
  if (!has("make") && !has("ninja")) missing.push("make");
  if (missing.length > 0) {
    say(`cannot build the native addon: ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} missing${engine.kind === "none" ? ` (${engine.origin})` : ""}.`);
    say(`on Debian/Ubuntu: sudo apt-get install --no-install-recommends ${missing.join(" ")}${missing.includes("libtorch-dev") ? " libgloo-dev libopenblas0-openmp" : ""}`);
    say("or point LIBTORCH at a libtorch folder (a libtorch zip, or the torch/ folder of a pip torch install), then reinstall.");
    return 1;
  }

  // A build folder configured for another engine keeps that engine's paths in its CMake cache.
  const previous = builtFor();
  if (previous !== null && previous !== engine.prefix) {
    say(`the addon was built against ${previous}; rebuilding against ${engine.prefix}`);
    rmSync(join(root, "build"), { recursive: true, force: true });
  }
  say(`building the native addon against ${engine.origin} (a minute or two, once)`);
  const require = createRequire(import.meta.url);
  const cmakeJs = join(dirname(require.resolve("cmake-js/package.json")), "bin", "cmake-js");
  const env = { ...process.env, LIBTORCH: engine.prefix };
  const build = spawnSync(process.execPath, [cmakeJs, "compile", "--out", "build", "-p", String(Math.max(1, availableParallelism()))], { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] });
  if (build.status !== 0) {
    say(`the addon did not build (cmake-js exited with ${build.status ?? build.signal}); the messages above say why. \`simclr doctor\` (once built) or the lines above name what is missing.`);
    return 1;
  }
  mkdirSync(dirname(stampPath), { recursive: true });
  writeFileSync(`${stampPath}.tmp`, `${JSON.stringify({ kind: engine.kind, prefix: engine.prefix, origin: engine.origin })}\n`);
  renameSync(`${stampPath}.tmp`, stampPath);
  say(`built ${addon}`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(main());
