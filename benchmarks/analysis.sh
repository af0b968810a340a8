#!/usr/bin/env bash
# Rebuild the shipped dataset from the committed records, then every analysis result from it:
#   data/dataset.npz, results/dataset_info.txt, results/label_histogram.png,
#   results/importance/*, results/evaluate.{json,md,png}, results/transfer.{json,md},
#   src/fisched/defaults/{selection.json,prior.npz} (what `--cost-model fi` ships with)
# Usage: bash benchmarks/analysis.sh   (from the repository root, after `make install`)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p results
$BIN/fisched dataset build data/collect/* -o data/dataset.npz -q
$BIN/fisched dataset info data/dataset.npz --plot results/label_histogram.png | tee results/dataset_info.txt
$BIN/fisched importance data/dataset.npz -o results/importance --select cumulative:0.95
$BIN/fisched evaluate data/dataset.npz -o results/evaluate.json --repeats 3 --jobs 2 -q
$BIN/python benchmarks/transfer.py data/dataset.npz -o results/transfer.json
mkdir -p src/fisched/defaults
cp results/importance/selection.json src/fisched/defaults/selection.json
cp data/dataset.npz src/fisched/defaults/prior.npz
$BIN/python benchmarks/readme_tables.py
