#!/usr/bin/env bash
# Whole-model tuning on this host, with the CPU defaults:
# 1. stock XGBModel against FeatureImportanceModel warm-started from the shipped dataset minus
#    the tuned model's own tasks, its feature selection fitted on that prior too (transfer, not
#    memory), 300 trials, 3 seeds, arms alternating: results/experiment/HOST/;
# 2. what a user gets from tuning their own models (fi-library: shipped data plus what earlier
#    runs of the seed learned, known schedules reused), resnet18 then resnet50, both held out
#    of the shipped data (--hold-out: the shipped data holds both zoo models, so without it each
#    would start from its own measured schedules and resnet50 could not show what resnet18
#    taught): results/experiment-library/HOST/.
# Each writes {summary.json,summary.md,curves.png} and per run <model>/seed<k>/<arm>/run.json
# beside its MetaSchedule records. Resumable: rerun the same command and finished runs are
# kept, an interrupted one is redone from scratch.
# Alone on the machine: it takes 10-30 minutes per run (bert ~10, the CNNs 20-30 on
# 2026-11-25), 18 runs, plus ~2 minutes to time each finished pair. Extra arguments are
# passed on (e.g. --seeds 1 for a first pass over every model).
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=$(.venv/bin/python -c "from fisched.metaschedule.target import host_cpu; print(host_cpu())")
.venv/bin/fisched experiment resnet18,bert,mobilenet_v2 --trials 300 --seeds 3 \
    --arms xgb,fi-prior --workdir "results/experiment/$HOST" "$@"
.venv/bin/fisched experiment resnet18,resnet50 --trials 300 --seeds 3 \
    --arms xgb,fi-library --hold-out resnet18,resnet50 \
    --workdir "results/experiment-library/$HOST" "$@"
.venv/bin/python benchmarks/readme_tables.py
