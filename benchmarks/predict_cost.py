"""Where a cost model's prediction time goes in tuning: feature extraction against the booster.

    .venv/bin/python benchmarks/predict_cost.py results/experiment/znver3/mobilenet_v2/seed0/xgb

MetaSchedule's evolutionary search asks the cost model to score its whole population (2048
candidates by default) several times per task and round; the profile of a tuning run files
that under ``EvoSearch/Evolve/PredictNormalizedScore``. This replays the measured programs of
a tuned workdir as candidates, task by task, feeds them to stock ``XGBModel`` and to the fi
model (``--cost-model fi``, warm-started from the shipped dataset) as measured results, so
both predict with trained boosters (stock past its 100-sample warm-up), and then times, per
task, on a population of ``--population`` candidates (the task's programs repeated):

- ``extract``: MetaSchedule's per-store feature extraction and the copy to numpy, which every
  model that looks at features pays;
- ``xgb`` and ``fi``: the whole ``predict`` call of each model;
- ``xgb booster`` and ``fi booster``: the boosters alone on the features extracted beforehand
  (pack-sum included).

Writes ``results/predict_cost.json``
and ``.md`` (seconds per 10,000 candidates, summed over the tasks; best of ``--repeat``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", help="a tuned fisched workdir (MetaSchedule database)")
    parser.add_argument("--population", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-tasks", type=int, default=0, help="0: every task")
    parser.add_argument("-o", "--out", default=str(ROOT / "results" / "predict_cost"))
    args = parser.parse_args()

    from tvm.s_tir import meta_schedule as ms
    from tvm_ffi import structural_hash

    from fisched.costmodel.dataset import replay
    from fisched.costmodel.fi_model import default_fi_model
    from fisched.metaschedule.build import tune_context
    from fisched.metaschedule.records import open_database
    from fisched.metaschedule.target import make_target, num_cores
    from fisched.tuning.tune import read_meta

    meta = read_meta(args.workdir)
    target = make_target(meta["target"])
    cores = num_cores(target)
    by_task: dict[int, list] = {}
    workloads = {}
    for rec in open_database(args.workdir).get_all_tuning_records():
        key = str(structural_hash(rec.workload.mod))
        workloads.setdefault(key, rec.workload)
        by_task.setdefault(key, []).append(rec)
    # tasks with the most measured programs first
    tasks = sorted(by_task, key=lambda k: -len(by_task[k]))
    tasks = tasks[:args.max_tasks] if args.max_tasks else tasks

    xgb = ms.cost_model.XGBModel(num_tuning_cores=cores, tree_method="auto")
    fi = default_fi_model(cores, 0)
    extractor = ms.feature_extractor.PerStoreFeature()
    prepared = []
    rows = 0.0  # feature rows of the populations (a candidate has one per BufferStore)
    for key in tasks:
        records = [r for r in by_task[key] if r.run_secs]
        context = tune_context(workloads[key].mod, target)
        cands = [replay(r) for r in records]
        results = [ms.runner.RunnerResult(r.run_secs, None) for r in records]
        xgb.update(context, cands, results)
        fi.update(context, cands, results)
        reps = -(-args.population // len(cands))
        prepared.append((context, (cands * reps)[:args.population]))
        per_cand = np.mean([len(f.numpy()) for f in extractor.extract_from(context, cands)])
        rows += per_cand * args.population
    print(f"{len(prepared)} tasks, {sum(len(by_task[k]) for k in tasks)} programs; "
          f"fi booster: {fi.booster.booster_.num_boosted_rounds()} trees on "
          f"{len(fi.columns)} columns", flush=True)

    total = {"extract": 0.0, "xgb": 0.0, "fi": 0.0, "xgb_booster": 0.0, "fi_booster": 0.0}
    for context, pop in prepared:
        total["extract"] += _best_of(args.repeat, lambda: [
            f.numpy() for f in extractor.extract_from(context, pop)])
        total["xgb"] += _best_of(args.repeat, lambda: xgb.predict(context, pop))
        total["fi"] += _best_of(args.repeat, lambda: fi.predict(context, pop))
        # the boosters alone, on features extracted beforehand (what each predict adds to
        # the extraction; too small to read off as a difference of the totals)
        xs = [f.numpy().astype("float32") for f in extractor.extract_from(context, pop)]
        ptr = np.concatenate([[0], np.cumsum([len(x) for x in xs])])
        flat = np.concatenate(xs)
        total["xgb_booster"] += _best_of(args.repeat, lambda: xgb._predict(xs))
        total["fi_booster"] += _best_of(args.repeat,
                                        lambda: fi.booster.predict(flat[:, fi.columns], ptr))
    n = len(prepared) * args.population
    per10k = {k: v / n * 1e4 for k, v in total.items()}
    command = " ".join(["benchmarks/predict_cost.py", *sys.argv[1:]])
    result = {"command": command,
              "workdir": args.workdir, "tasks": len(prepared), "candidates": n,
              "rows_per_candidate": rows / n,
              "fi_trees": fi.booster.booster_.num_boosted_rounds(),
              "fi_columns": len(fi.columns), "seconds_per_10k": per10k}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    table = ["| | extract | xgb predict | fi predict | xgb booster | fi booster |",
             "|---|---|---|---|---|---|",
             f"| s per 10k candidates | {per10k['extract']:.3f} | {per10k['xgb']:.3f} | "
             f"{per10k['fi']:.3f} | {per10k['xgb_booster']:.4f} | {per10k['fi_booster']:.4f} |"]
    text = (f"`{command}`: {len(prepared)} tasks, "
            f"populations of {args.population}, {rows / n:.1f} feature rows per candidate, "
            f"fi booster {result['fi_trees']} trees on {result['fi_columns']} columns.\n\n"
            + "\n".join(table) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
