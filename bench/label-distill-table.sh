#!/bin/bash
# The label-distillation table (issue 23 item 3, SimCLRv2's mode) on the CIFAR-10 JPEGs:
#   teacher   ResNet-18 w16 pretrained with SimCLR as the core study's default arm A1 (600k
#             views, seed 0), then fine-tuned on 1% and 10% of the labels (simclr finetune)
#   students  MobileNetV3-small x0.5, three ways on exactly the teacher's labelled subsets:
#             SimCLR (VIEWS) then fine-tuned ("the fine-tuned student alone"); label-distilled
#             from the fine-tuned teacher on all 50k unlabelled images (VIEWS), scored as the
#             classifier it is (simclr eval head); supervised from scratch on the labels
#   and ResNet-18 w16 supervised on the same labels (the teacher's architecture, no pretraining).
# Resumable: rerun it and finished steps are skipped. The figures are the runs' results.jsonl
# (BENCHMARKS.md, "Label distillation"). About 40 minutes on the 2-core AMD VM.
set -e
cd "$(dirname "$0")/.."
CLI="node dist/src/cli/main.js" # after the build (npm test or scripts/setup.sh)
D=${OUT:-runs/label-distill}
mkdir -p "$D"
T=$D/teacher
VIEWS=${VIEWS:-200000}
DATA="--set data.name=cifar10-jpg"
# the core plan's base (docs/science/core/plan.yaml) at seed 0
TEACHER="$DATA --set model.arch=resnet18 --set model.width=16 --set model.cifarStem=true --set head.layers=2 --set head.outDim=128
  --set augment.preset=cifar --set loss.temperature=0.5 --set optim.name=lars --set optim.lr=2.4 --set optim.weightDecay=1.0e-6
  --set train.batchSize=256 --set train.budgetViews=600000 --set train.warmupFraction=0.05 --set monitor.knnEvery=0
  --set monitor.linearProbe=false --set train.seed=0"
STUDENT="--set model.arch=mobilenet_v3_small --set model.widthMult=0.5"
has() { grep -q "\"protocol\":\"$2\"" "$1/results.jsonl" 2>/dev/null; }
epochs() { [ "$1" = 1% ] && echo 60 || echo 30; } # finetune's defaults, used for supervised too

$CLI pretrain --out $T --resume auto $TEACHER
has $T linear || $CLI eval linear --run $T
has $T knn || $CLI eval knn --run $T --k 200
$CLI pretrain --out $D/student-simclr --resume auto $DATA $STUDENT --set train.budgetViews=$VIEWS --set monitor.knnEvery=0 --set train.seed=0
has $D/student-simclr linear || $CLI eval linear --run $D/student-simclr
has $D/student-simclr knn || $CLI eval knn --run $D/student-simclr --k 200
for L in 1% 10%; do
  name=labels-${L%\%}pct-seed0
  has $T finetune-$L || $CLI finetune --run $T --labels $L
  subset=$T/subsets/$name.json
  has $D/student-simclr finetune-$L || $CLI finetune --run $D/student-simclr --subset $subset
  S=$D/student-distill-${L%\%}pct
  $CLI distill --teacher $T/finetuned/$name --out $S --resume auto $DATA $STUDENT --set distill.mode=labels --set head.layers=1 \
    --set train.budgetViews=$VIEWS --set monitor.knnEvery=0 --set train.seed=0
  has $S head || $CLI eval head --run $S
  has $S linear || $CLI eval linear --run $S
  for who in student teacher; do
    out=$D/supervised-$who-${L%\%}pct
    arch=$([ $who = student ] && echo "$STUDENT" || echo "--set model.arch=resnet18 --set model.width=16 --set model.cifarStem=true")
    has $out supervised-$L || $CLI supervised --out $out --subset $subset --epochs $(epochs $L) $DATA $arch --set train.seed=0
  done
done
echo ALL DONE
