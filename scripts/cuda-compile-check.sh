#!/usr/bin/env bash
# Compile-only check of the CUDA build: the addon compiles and links against pip's CUDA torch
# (2.14.1) with torch_cuda and ProcessGroupNCCL, using this machine's CUDA toolkit (nvcc). No GPU
# is needed or used. Run it before any native change lands (CI runs it when .venv-cuda exists).
#   1. the venv: ${SIMCLR_CUDA_VENV:-.venv-cuda} (git-ignored), made with pip's torch==2.14.1 if
#      missing (about 5.5 GB, from this machine's disk where pip is set up so);
#   2. cmake-js into build-cuda/ (build/, the addon the tests load, is left alone);
#   3. checks that the result needs libtorch_cuda, holds ProcessGroupNCCL and the CUDA-only
#      runtime functions (GPU memory counters, sync debug mode).
# Prints one JSON line; exits non-zero if a step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'cuda-compile-check: %s\n' "$*" >&2; }
venv=${SIMCLR_CUDA_VENV:-.venv-cuda}
TORCH_CUDA=torch==2.14.1
start=$(date +%s)

if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  say "making $venv with pip's $TORCH_CUDA (a CUDA build, about 5.5 GB)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$TORCH_CUDA" >&2
fi
read -r torch_version torch_cuda LIBTORCH < <("$venv/bin/python" -c 'import os, torch; print(torch.__version__, torch.version.cuda, os.path.dirname(torch.__file__))' 2>/dev/null)
[ "$torch_cuda" != None ] || { say "$venv's torch $torch_version is not a CUDA build"; exit 1; }
export LIBTORCH
if [ -z "${CUDA_HOME:-}" ] && [ -d /usr/local/cuda ]; then export CUDA_HOME=/usr/local/cuda; fi
command -v nvcc >/dev/null || [ -x "${CUDA_HOME:-/nonexistent}/bin/nvcc" ] || { say "no CUDA toolkit (nvcc) found: set CUDA_HOME"; exit 1; }
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
nvcc_version=$(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
say "torch $torch_version (CUDA $torch_cuda) at $LIBTORCH; toolkit nvcc $nvcc_version"

t0=$(date +%s)
rm -rf build-cuda
node node_modules/cmake-js/bin/cmake-js compile --out build-cuda -p "$(nproc)" > build-cuda.log 2>&1 || { tail -40 build-cuda.log >&2; say "the CUDA build failed (build-cuda.log)"; exit 1; }
compile_s=$(( $(date +%s) - t0 ))
addon=build-cuda/Release/simclr_native.node
grep -E "libtorch:|process groups:" build-cuda.log >&2 || true
needed=$(readelf -d "$addon" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
case " $needed " in *" libtorch_cuda.so "*) ;; *) say "the addon does not link libtorch_cuda (needs: $needed)"; exit 1 ;; esac
nccl_symbols=$(nm -C "$addon" | grep -c "ProcessGroupNCCL" || true)
[ "$nccl_symbols" -gt 0 ] || { say "the addon holds no ProcessGroupNCCL reference"; exit 1; }
# the CUDA-only runtime (native/runtime.cc under SIMCLR_WITH_CUDA: allocator counters, sync debug mode)
strings "$addon" | grep -q "cudaSyncDebugMode: level must" || { say "the addon was built without its CUDA runtime functions (SIMCLR_WITH_CUDA unset?)"; exit 1; }
printf '{"cuda_compile":"ok","torch":"%s","torch_cuda":"%s","nvcc":"%s","links":"%s","process_group_nccl_refs":%d,"compile_s":%d,"total_s":%d}\n' \
  "$torch_version" "$torch_cuda" "$nvcc_version" "${needed% }" "$nccl_symbols" "$compile_s" "$(( $(date +%s) - start ))"
