#!/bin/bash
# The evaluation-protocol table of BENCHMARKS.md (issue 4): pretrain, then every protocol, for one
# data set at one budget. Each simclr command prints one JSON line (with "seconds") and appends it
# to its run's results.jsonl; the script ends with `simclr compare`. Hours of CPU: see BENCHMARKS.md.
#
#   bash bench/protocols.sh fmnist-demo|fmnist-long|cifar-demo|cifar-long [OUT_ROOT (default runs)]
#
# Budgets, sized for a 2-core CPU:
#   *-demo  2 epochs over the whole train split (the demo's budget)
#   *-long  30 epochs over the first 10,000 train images (class-interleaved, so balanced), i.e.
#           600,000 views; the supervised baseline trains on the same 10,000 images for 30 epochs.
# Fashion-MNIST uses the default config (ResNet-18 w16); CIFAR-10 uses the shared JPEG image
# folder through examples/cifar10-jpg.yaml at width 16 (width 64 runs at ~23 views/s here).
# Evaluations use the whole train split (60,000 / 50,000 labelled images) and the 10,000 test images.
set -euo pipefail
budget=${1:?usage: bash bench/protocols.sh fmnist-demo|fmnist-long|cifar-demo|cifar-long [OUT_ROOT]}
root=${2:-runs}
simclr() { node "$(dirname "$0")/../dist/src/cli/main.js" "$@"; }

case "$budget" in
  fmnist-*) data=() ;;
  cifar-*) data=(--config examples/cifar10-jpg.yaml --set model.width=16) ;;
  *) echo "unknown budget '$budget': fmnist-demo, fmnist-long, cifar-demo or cifar-long" >&2; exit 2 ;;
esac
case "$budget" in
  *-demo) size=(--set train.epochs=2 --set train.warmupEpochs=null) ;;
  *-long) size=(--set train.epochs=30 --set data.limit=10000 --set monitor.knnEvery=10) ;;
esac
run="$root/$budget"
supervised="$root/$budget-supervised"

if [ -e "$run/checkpoints/latest" ]; then
  simclr pretrain --out "$run" --resume # finishes an interrupted run; a finished one returns at once
else
  simclr pretrain --out "$run" "${data[@]}" "${size[@]}"
fi
for protocol in linear knn; do
  for encoder in "" --random-init --raw-pixels; do
    simclr eval "$protocol" --run "$run" $encoder
  done
done
simclr finetune --run "$run" --labels 1%
simclr finetune --run "$run" --labels 10%
# The supervised baseline sees the pretraining's images (data.limit) for as many epochs.
simclr supervised --out "$supervised" "${data[@]}" "${size[@]}"
simclr compare "$run" "$supervised"
