#!/bin/bash
# The distillation table (issue 23 item 3), embedding mode: teacher = the core study's A1-s0
# (ResNet-18 w16, SimCLR, CIFAR-10 JPEGs, 600k views; linear 56.1, kNN 51.0); students trained
# by distillation and by SimCLR alone at the same budget (VIEWS, 200k); linear + kNN on CIFAR-10.
# The figures are the runs' results.jsonl (BENCHMARKS.md, "Distillation").
set -e
cd "$(dirname "$0")/.."
CLI="node dist/src/cli/main.js"  # after the build (npm test or scripts/setup.sh)
D=${OUT:-runs/distill-study}; mkdir -p $D
T=${TEACHER:-runs/ablate-cifar10/runs/A1-s0}  # simclr ablate --plan docs/science/core/plan.yaml made it
COMMON="--set data.name=cifar10-jpg --set train.budgetViews=${VIEWS:-200000} --set monitor.knnEvery=0 --set train.seed=0"
declare -A STUDENT=( [r18w8]="--set model.arch=resnet18 --set model.width=8" [mnv3s50]="--set model.arch=mobilenet_v3_small --set model.widthMult=0.5" )
for s in r18w8 mnv3s50; do
  $CLI distill --teacher $T --out $D/$s-distill --resume auto $COMMON ${STUDENT[$s]}
  $CLI pretrain --out $D/$s-simclr --resume auto $COMMON ${STUDENT[$s]}
done
for r in r18w8-distill r18w8-simclr mnv3s50-distill mnv3s50-simclr; do
  grep -q '"protocol":"linear"' $D/$r/results.jsonl 2>/dev/null || { $CLI eval linear --run $D/$r; $CLI eval knn --run $D/$r --k 200; }
done
echo ALL DONE
