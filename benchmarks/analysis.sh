#!/usr/bin/env bash
# Rebuild the shipped dataset from the committed records, then every analysis result from it:
#   data/dataset.npz, results/dataset_info.txt, results/label_histogram.png,
#   results/importance/*, results/evaluate.{json,md,png}, results/transfer.{json,md},
#   src/fisched/defaults/{selection.json,prior.npz} (what `--cost-model fi` ships with),
#   src/fisched/defaults/library/ (the known schedules `--reuse` starts from)
# Usage: bash benchmarks/analysis.sh   (from the repository root, after `make install`)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p results
$BIN/fisched dataset build data/collect/*/* -o data/dataset.npz -q
$BIN/fisched dataset info data/dataset.npz --plot results/label_histogram.png | tee results/dataset_info.txt
echo "host_cpu: $($BIN/python -c 'from fisched.provenance import host_cpu; print(host_cpu())') (where this summary was made; each host's programs are listed above)" >> results/dataset_info.txt
$BIN/fisched importance data/dataset.npz -o results/importance --select cumulative:0.95
$BIN/fisched evaluate data/dataset.npz -o results/evaluate.json --repeats 3 --jobs 2 -q
$BIN/python benchmarks/transfer.py data/dataset.npz -o results/transfer.json
mkdir -p src/fisched/defaults
cp results/importance/selection.json src/fisched/defaults/selection.json
cp data/dataset.npz src/fisched/defaults/prior.npz
# the shipped library: the best schedules of every collected workload, per host, which
# `fisched tune --reuse` starts structurally equal tasks from (folders that record their host)
rm -rf src/fisched/defaults/library
for host_dir in data/collect/*/; do
  for wd in "$host_dir"*/; do
    if grep -q '"host"' "$wd/fisched.json"; then
      $BIN/fisched library add "$wd" --library src/fisched/defaults/library --schedules-only
    fi
  done
done
$BIN/python benchmarks/readme_tables.py
