#!/usr/bin/env bash
# Installs and builds everything this package needs; quick when nothing is missing.
#   1. system packages, all decided before any is installed: libtorch unless another engine is
#      there (scripts/install.mjs; SIMCLR_ENGINE=pip makes a venv with pip's torch 2.13.0 instead),
#      OpenBLAS, Gloo's headers, a C++ toolchain and CMake; with --datasets,
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
list_packages=0
for arg in "$@"; do
  case "$arg" in
    --datasets) with_datasets=1 ;;
    --tests) with_tests=1 ;;
    --list-packages) list_packages=1 ;;
    *) say "unknown argument '$arg' (known: --datasets, --tests, --list-packages)"; exit 2 ;;
  esac
done
# Every Debian package this script may install (scripts/check-fresh-install.sh purges them).
PROJECT_PACKAGES=(libtorch-dev libgloo-dev libopenblas0-openmp python3-venv dataset-fashion-mnist chromium fonts-dejavu-core)
TOOLCHAIN_PACKAGES=(cmake g++ make python3)
if [ "$list_packages" = 1 ]; then echo "${PROJECT_PACKAGES[*]}"; echo "${TOOLCHAIN_PACKAGES[*]}"; exit 0; fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  say "Node.js >= 20 is required, this is $(node --version)."
  exit 1
fi

# ---- 1. decide, in one pass, everything this machine lacks; then install it at once ------
# The engine (libtorch) is chosen as scripts/install.mjs chooses it: LIBTORCH, the project's
# venv (.venv, pip's torch 2.13.0), the system's libtorch-dev, python3's torch. SIMCLR_ENGINE=pip
# makes the venv if it is missing; SIMCLR_ENGINE=system ignores it.
engine=${SIMCLR_ENGINE:-}
case "$engine" in ""|system|pip) ;; *) say "SIMCLR_ENGINE must be system or pip, got '$engine'"; exit 2 ;; esac
PIP_TORCH=torch==2.13.0
engine_kind=$(node scripts/install.mjs --print-engine | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).kind))')
make_venv=0
if [ "$engine" = pip ] && [ "$engine_kind" = none ] && [ -z "${LIBTORCH:-}" ]; then make_venv=1; fi
if [ -n "${LIBTORCH:-}" ] && [ "$engine_kind" = none ]; then
  say "LIBTORCH=$LIBTORCH holds no TorchConfig.cmake (a libtorch folder, or the torch/ folder of a pip install)"
  exit 1
fi

missing=()
pkg_missing() { ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
# Debian's libtorch 1.13 when no other engine is there or asked for.
if [ "$engine_kind" = none ] && [ "$make_venv" = 0 ]; then missing+=(libtorch-dev); fi
if [ "$make_venv" = 1 ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then missing+=(python3-venv); fi
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
# node-gyp (hnswlib-node's build) runs Python.
command -v python3 >/dev/null || missing+=(python3)
if command -v dpkg-query >/dev/null; then
  # c10d's ProcessGroupGloo header includes Gloo's (native/dist.cc). Neither Debian's libtorch-dev
  # nor pip's wheels ship them; Debian's libgloo-dev does (docs/native.md: why it fits both).
  if [ ! -f /usr/include/gloo/algorithm.h ] && [ ! -f "${LIBTORCH:-/nonexistent}/include/gloo/algorithm.h" ]; then missing+=(libgloo-dev); fi
  # The default libblas.so.3 on Debian is the slow reference BLAS; libtorch uses the alternative.
  pkg_missing libopenblas0-openmp && missing+=(libopenblas0-openmp)
  if [ "$with_datasets" = 1 ]; then
    [ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
  fi
  if [ "$with_tests" = 1 ]; then
    command -v chromium >/dev/null || missing+=(chromium)
    pkg_missing fonts-dejavu-core && missing+=(fonts-dejavu-core)
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
    say "or point LIBTORCH at a libtorch 1.13+/2.x folder (e.g. the torch/ folder of a pip install) and install cmake and g++"
    if [[ " ${missing[*]} " =~ " libtorch-dev " ]] || ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then exit 1; fi
    say "continuing: libtorch and the toolchain are present"
  fi
fi

if [ "$make_venv" = 1 ]; then
  say "making the project's venv (.venv) with pip's $PIP_TORCH (CPU)"
  python3 -m venv .venv >&2
  .venv/bin/pip install -q --disable-pip-version-check "$PIP_TORCH" >&2
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
# scripts/install.mjs (npm's install step, run by npm ci above too) builds it when a source is
# newer than the addon or the engine changed, and is quick otherwise.
node scripts/install.mjs >&2

# ---- 4. TypeScript --------------------------------------------------------------------
built=dist/.build-stamp
if [ ! -f "$built" ] || [ -n "$(find src test bench tsconfig.json -newer "$built" 2>/dev/null | head -1)" ]; then
  say "compiling TypeScript"
  npx tsc -p tsconfig.json >&2
  touch "$built"
fi
