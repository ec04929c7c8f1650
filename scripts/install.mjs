#!/usr/bin/env node
// npm's install step for this package (and for projects that depend on it): builds the
// native addon (native/ -> build/Release/simclr_native.node) with cmake-js, finding libtorch
// as CMakeLists.txt does (LIBTORCH, a Python torch, or the system's libtorch-dev). When
// something is missing it says what to install and fails the install, rather than leaving a
// package that cannot load. Quick when the addon is already built and newer than its sources.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { arch } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const addon = join(root, "build", "Release", "simclr_native.node");
const say = (text) => process.stderr.write(`simclr install: ${text}\n`);

function newestSource() {
  const files = [join(root, "CMakeLists.txt"), ...readdirSync(join(root, "native")).map((f) => join(root, "native", f))];
  return Math.max(...files.map((f) => statSync(f).mtimeMs));
}

if (existsSync(addon) && statSync(addon).mtimeMs >= newestSource()) process.exit(0);

const has = (command) => spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
function hasLibtorch() {
  const libtorch = process.env.LIBTORCH;
  if (libtorch) return ["share/cmake/Torch", "Torch", "."].some((d) => existsSync(join(libtorch, d, "TorchConfig.cmake")));
  const triplet = { x64: "x86_64", arm64: "aarch64" }[arch()] ?? arch();
  if (existsSync(`/usr/lib/${triplet}-linux-gnu/cmake/Torch/TorchConfig.cmake`)) return true;
  for (const python of ["python3", "python"]) {
    try {
      const prefix = execFileSync(python, ["-c", "import torch.utils; print(torch.utils.cmake_prefix_path)"], { encoding: "utf-8", stdio: ["ignore", "pipe", "ignore"] }).trim();
      if (existsSync(join(prefix, "Torch", "TorchConfig.cmake"))) return true;
    } catch {
      // no such Python, or no torch in it
    }
  }
  return false;
}

const missing = [];
if (!hasLibtorch()) missing.push("libtorch-dev");
if (!has("cmake")) missing.push("cmake");
if (!has("g++") && !has("c++")) missing.push("g++");
if (!has("make") && !has("ninja")) missing.push("make");
if (missing.length > 0) {
  say(`cannot build the native addon: ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} missing.`);
  say(`on Debian/Ubuntu: sudo apt-get install --no-install-recommends ${missing.join(" ")}${missing.includes("libtorch-dev") ? " libgloo-dev libopenblas0-openmp" : ""}`);
  say("or point LIBTORCH at a libtorch folder (a libtorch zip, or the one inside a pip torch install), then reinstall.");
  process.exit(1);
}

say("building the native addon against libtorch (a minute or two, once)");
const require = createRequire(import.meta.url);
const cmakeJs = join(dirname(require.resolve("cmake-js/package.json")), "bin", "cmake-js");
const jobs = String(Math.max(1, (await import("node:os")).availableParallelism()));
const build = spawnSync(process.execPath, [cmakeJs, "compile", "--out", "build", "-p", jobs], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
if (build.status !== 0) {
  say(`the addon did not build (cmake-js exited with ${build.status ?? build.signal}); the messages above say why.`);
  process.exit(1);
}
say(`built ${addon}`);
