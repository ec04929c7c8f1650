#!/bin/bash
# The --init measurement (issue 23 item 2): SimCLR on CIFAR-10 JPEG classes 0-4 (source), then
# on classes 5-9 from random init and from the source's encoder, same budget; linear and kNN on 5-9.
# The figures are the runs' results.jsonl (BENCHMARKS.md, "Starting from another data set's encoder").
set -e
cd "$(dirname "$0")/.."
S=node; CLI="dist/src/cli/main.js"  # after the build (npm test or scripts/setup.sh)
D=${OUT:-runs/init-study}; mkdir -p $D
SRC=${CIFAR_JPG:-${SIMCLR_CACHE_DIR:-$HOME/.cache/simclr}/cifar10-jpg}  # extracted by any cifar10-jpg run (simclr cache)
if [ ! -d $D/half-b/test/truck ]; then
  for split in train test; do
    mkdir -p $D/half-a/$split $D/half-b/$split
    for c in airplane automobile bird cat deer; do [ -d $D/half-a/$split/$c ] || cp -rl $SRC/$split/$c $D/half-a/$split/; done
    for c in dog frog horse ship truck; do [ -d $D/half-b/$split/$c ] || cp -rl $SRC/$split/$c $D/half-b/$split/; done
  done
fi
COMMON="--set data.name=cifar10-jpg --set train.budgetViews=${VIEWS:-300000} --set monitor.knnEvery=0 --set train.seed=0"
$S $CLI pretrain --out $D/source --resume auto --set data.path=$D/half-a $COMMON
$S $CLI pretrain --out $D/random --resume auto --set data.path=$D/half-b $COMMON
LATEST=$D/source/checkpoints/$(cat $D/source/checkpoints/latest)
$S $CLI pretrain --out $D/init --resume auto --set data.path=$D/half-b --set model.init=$LATEST $COMMON
for r in random init; do
  [ -s $D/$r/results.jsonl ] && grep -q '"linear"' $D/$r/results.jsonl || { $S $CLI eval linear --run $D/$r; $S $CLI eval knn --run $D/$r --k 200; }
done
# the source's encoder on 5-9 without training there (transfer alone), and untrained
$S $CLI eval linear --run $D/source --set data.path=$D/half-b > $D/transfer-linear.json
$S $CLI eval knn --run $D/source --set data.path=$D/half-b --k 200 > $D/transfer-knn.json
$S $CLI eval linear --run $D/random --random-init > $D/random-init-linear.json
$S $CLI eval knn --run $D/random --random-init --k 200 > $D/random-init-knn.json
echo ALL DONE
