#!/usr/bin/env bash
# Runs the whole 64 px study, one run at a time, in the order that gives usable results
# earliest (one seed of each paper model and two cheap torchvision models first). Every
# run resumes where it stopped, and finished runs are skipped, so rerun this after any
# interruption. Then: skinbench report runs/study/strong runs/study/paper runs/study/tuned
# --out docs/skinbench/study (docs/skinbench/study.md has every command, exports included).
set -euo pipefail
cd "$(dirname "$0")/../.."
SB="${PYTHON:-.venv/bin/python} -m skinbench sweep"
S=examples/study
$SB $S/custom_cnn_strong_64.yaml --index 0
$SB $S/torchvision_strong_64.yaml --index 0   # mobilenet_v3_small
$SB $S/torchvision_strong_64.yaml --index 1   # resnet18
$SB $S/custom_cnn_paper_64.yaml --index 0
for i in 1 2; do
  $SB $S/custom_cnn_strong_64.yaml --index $i
  $SB $S/custom_cnn_paper_64.yaml --index $i
done
$SB $S/torchvision_strong_64.yaml --index 2   # shufflenet_v2_x1_0
$SB $S/torchvision_strong_64.yaml --index 3   # efficientnet_b0
for i in 0 1 2; do
  $SB $S/resnet50_strong_64.yaml --index $i
  $SB $S/resnet50_paper_64.yaml --index $i
done
$SB $S/custom_cnn_tuned_64.yaml               # the strong recipe, 40 epochs, sqrt class weights
$SB $S/torchvision_strong_64.yaml             # mobilenet_v3_large
$SB $S/torchvision_tuned_64.yaml              # resnet18 and mobilenet_v3_small, tuned recipe
$SB $S/custom_cnn_tuned_128.yaml              # 128 px, one seed
