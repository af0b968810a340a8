"""What the fi model's feature cache saves in a real tuning run.

    .venv/bin/python benchmarks/feature_cache.py bert --trials 100

Tunes the model twice from scratch with ``--cost-model fi`` (warm-started from the shipped
dataset minus the model's own tasks, as the experiment's fi-prior arm), same seed and
budget, once with the feature cache off and once at its default size, one after the other, and
writes MetaSchedule's profile of each (seconds in ``PredictNormalizedScore``, the cost model's
scoring of the search population, and in total), the cache's hit rate, and the best end-to-end
estimate reached, to ``results/feature_cache.json``. The two searches need not visit the same
programs (hashing changes no prediction, but timing noise in the measured latencies steers the
search), so the estimate is reported, not asserted equal.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", default=str(ROOT / "results" / "feature_cache.json"))
    args = ap.parse_args()

    from fisched.costmodel.fi_model import FEATURE_CACHE_PROGRAMS, default_fi_model
    from fisched.metaschedule.target import make_target, num_cores
    from fisched.models.frontend import load_model
    from fisched.provenance import provenance
    from fisched.study.experiment import prior_for, with_estimates
    from fisched.tuning.tune import extract, tune

    target = make_target()
    cores = num_cores(target)
    model = load_model(args.model, threads=cores)
    tasks = extract(model, target)
    prior, _ = prior_for(None, model, tasks)
    rows = []
    for size in (0, FEATURE_CACHE_PROGRAMS):
        with tempfile.TemporaryDirectory() as tmp:
            cost = default_fi_model(cores, args.seed, prior=prior)
            cost.features.size = size
            result = tune(model, tmp, target, args.trials, cost_model="fi", seed=args.seed,
                          progress=False, cost_model_obj=cost)
            est = with_estimates([{"seconds": result.seconds, "trials": args.trials}],
                                 Path(tmp), tasks)[-1]["estimate_ms"]
        prof = result.profile
        rows.append({"cache_programs": size, "tune_seconds": result.seconds,
                     "predict_seconds": prof.get("EvoSearch/Evolve/PredictNormalizedScore"),
                     "update_seconds": prof.get("MeasureCallback/UpdateCostModel"),
                     "hits": cost.features.hits, "misses": cost.features.misses,
                     "estimate_ms": est})
        print(rows[-1], flush=True)
    out = {"model": model.name, "trials": args.trials, "seed": args.seed, "runs": rows,
           "provenance": provenance(target)}
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
