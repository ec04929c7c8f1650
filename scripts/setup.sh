#!/usr/bin/env bash
# Installs and builds everything this package needs; quick when nothing is missing.
#   1. system packages: libtorch (+ OpenBLAS, Gloo's headers, a C++ toolchain and CMake; with --datasets,
#      Debian's Fashion-MNIST for the demo and the end-to-end tests; with --tests, Chromium and a
#      font, in which the tests open the HTML report)
#   2. npm packages
#   3. the native addon (native/ -> build/Release/simclr_native.node)
#   4. the TypeScript (-> dist/)
# On Debian/Ubuntu as root it apt-installs what is missing; elsewhere it says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

with_datasets=0
with_tests=0
for arg in "$@"; do
  case "$arg" in
    --datasets) with_datasets=1 ;;
    --tests) with_tests=1 ;;
    *) say "unknown argument '$arg' (known: --datasets, --tests)"; exit 2 ;;
  esac
done

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  say "Node.js >= 20 is required, this is $(node --version)."
  exit 1
fi

# ---- 1. system packages ---------------------------------------------------------------
system_torch=/usr/lib/$(uname -m)-linux-gnu/cmake/Torch/TorchConfig.cmake
have_libtorch() {
  if [ -n "${LIBTORCH:-}" ]; then
    [ -f "$LIBTORCH/share/cmake/Torch/TorchConfig.cmake" ] || [ -f "$LIBTORCH/Torch/TorchConfig.cmake" ] || [ -f "$LIBTORCH/TorchConfig.cmake" ]
    return
  fi
  [ -f "$system_torch" ] && return 0
  local prefix
  prefix=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null) || return 1
  [ -f "$prefix/Torch/TorchConfig.cmake" ]
}

missing=()
have_libtorch || missing+=(libtorch-dev)
command -v cmake >/dev/null || missing+=(cmake)
# c10d's ProcessGroupGloo headers include Gloo's (native/dist.cc).
if [ -z "${LIBTORCH:-}" ] && [ -f "$system_torch" ] && [ ! -f /usr/include/gloo/config.h ]; then missing+=(libgloo-dev); fi
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
# node-gyp (hnswlib-node's build) runs Python.
command -v python3 >/dev/null || missing+=(python3)
if command -v dpkg-query >/dev/null; then
  # The default libblas.so.3 on Debian is the slow reference BLAS; libtorch uses the alternative.
  dpkg-query -W -f='${Status}' libopenblas0-openmp 2>/dev/null | grep -q "ok installed" || missing+=(libopenblas0-openmp)
  if [ "$with_datasets" = 1 ]; then
    [ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
  fi
  if [ "$with_tests" = 1 ]; then
    command -v chromium >/dev/null || missing+=(chromium)
    dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q "ok installed" || missing+=(fonts-dejavu-core)
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  else
    say "missing system packages: ${missing[*]}"
    say "on Debian/Ubuntu: sudo apt-get install --no-install-recommends ${missing[*]}"
    say "or point LIBTORCH at a libtorch 1.13+/2.x folder (e.g. the one inside a pip torch install) and install cmake and g++"
    if ! have_libtorch || ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then exit 1; fi
    say "continuing: libtorch and the toolchain are present"
  fi
fi

# ---- 2. npm packages ------------------------------------------------------------------
stamp=node_modules/.setup-stamp
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; }; then
  say "installing npm packages"
  # onnxruntime-node (tests: the ONNX export check) ships its CPU binaries in the npm
  # package; its install script would fetch CUDA ones from NuGet. Skip that: npm only.
  export ONNXRUNTIME_NODE_INSTALL=skip
  # hnswlib-node compiles with node-gyp, which would download Node's headers; Debian's nodejs
  # package ships them in /usr/include/node.
  if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >&2; else npm install --no-audit --no-fund >&2; fi
  touch "$stamp"
fi

# ---- 3. native addon ------------------------------------------------------------------
addon=build/Release/simclr_native.node
if [ ! -f "$addon" ] || [ -n "$(find native CMakeLists.txt -newer "$addon" 2>/dev/null | head -1)" ]; then
  say "building the native addon (about a minute)"
  npx cmake-js compile --out build -p "$(nproc)" >&2
fi

# ---- 4. TypeScript --------------------------------------------------------------------
built=dist/.build-stamp
if [ ! -f "$built" ] || [ -n "$(find src test bench tsconfig.json -newer "$built" 2>/dev/null | head -1)" ]; then
  say "compiling TypeScript"
  npx tsc -p tsconfig.json >&2
  touch "$built"
fi
