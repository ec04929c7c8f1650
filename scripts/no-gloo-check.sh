#!/usr/bin/env bash
# The build without Gloo's headers (what a libtorch without them gives): it compiles, single-process
# pretraining works, and `--nproc 2` fails at once with an error that names libgloo-dev.
# Builds into build-nogloo/ (build/ is left alone) against the engine scripts/install.mjs picks;
# needs a set-up clone (bash scripts/setup.sh). Prints one JSON line; exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'no-gloo-check: %s\n' "$*" >&2; }
LIBTORCH=$(node scripts/install.mjs --print-engine | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).prefix ?? ""))')
[ -n "$LIBTORCH" ] || { say "no engine found: run bash scripts/setup.sh"; exit 1; }
export LIBTORCH
start=$(date +%s)
rm -rf build-nogloo
node node_modules/cmake-js/bin/cmake-js compile --out build-nogloo -p "$(nproc)" --CDSIMCLR_GLOO=OFF > build-nogloo.log 2>&1 || { tail -30 build-nogloo.log >&2; say "the build without Gloo failed (build-nogloo.log)"; exit 1; }
grep -q "process groups: no gloo" build-nogloo.log || { say "the build found Gloo after all (build-nogloo.log)"; exit 1; }
compile_s=$(( $(date +%s) - start ))
export SIMCLR_ADDON=$PWD/build-nogloo/Release/simclr_native.node
work=$(mktemp -d /tmp/simclr-nogloo-XXXXXX)
node --input-type=module -e "import { writeSyntheticIdx } from './dist/test/synthetic.js'; writeSyntheticIdx('$work/data', 128);"
sets=(--set data.name=mnist --set "data.path=$work/data" --set model.width=4 --set train.batchSize=32 --set train.epochs=1 --set monitor.knnEvery=0 --set monitor.linearProbe=false)
node dist/src/cli/main.js pretrain --out "$work/one" "${sets[@]}" > "$work/one.log" 2>&1 || { tail -20 "$work/one.log" >&2; say "single-process pretraining failed without Gloo"; exit 1; }
set +e
timeout 120 node dist/src/cli/main.js pretrain --out "$work/two" --nproc 2 "${sets[@]}" > "$work/two.log" 2>&1
rc=$?
set -e
[ "$rc" != 0 ] && [ "$rc" != 124 ] || { say "--nproc 2 without Gloo exited $rc (expected a clear failure)"; tail -20 "$work/two.log" >&2; exit 1; }
grep -q "libgloo-dev" "$work/two.log" || { say "--nproc 2 failed without naming libgloo-dev:"; tail -20 "$work/two.log" >&2; exit 1; }
node dist/src/cli/main.js doctor | grep -q "^gloo *no" || { say "simclr doctor does not say gloo no"; exit 1; }
printf '{"no_gloo":"ok","compile_s":%d,"single_process":"trained","nproc2_exit":%d,"message":"%s"}\n' "$compile_s" "$rc" "$(grep -m1 -o 'built without Gloo[^:]*' "$work/two.log")"
rm -rf "$work"
