"""Does a cost model trained on other models' programs rank a new model's programs?

Leave-one-model-out on a fisched dataset. For each model M, the prior is every program of the
other models minus any task structurally equal to one of M's (resnet18 and resnet50 share
some). M's tasks play a tuning session's first round: ``--online`` programs per task, drawn at
random, are "measured"; every configuration is scored on the rest of M's programs (TenSet top-1 /
top-5 by task weight, pairwise accuracy), which no configuration has seen:

- ``random``: what an untrained model (stock XGBModel before its first update) picks, averaged
  over 20 shuffles;
- ``online-stock``: stock objective on the 164 features, trained on the online programs only —
  stock XGBModel after its first round;
- ``prior``: fi selection (fitted on the prior only: cumulative 95 % of total gain) with the fi
  model's default labels and objective (``fisched.costmodel.fi_model.DEFAULT_*``: tree count chosen on
  held-out prior tasks), trained on the prior alone — the fi model before its first measurement;
- ``prior+finetune-R``: that prior, boosted R more rounds on the online programs (the fi model
  after its first round; R = finetune_rounds);
- ``prior+online-retrain``: one model trained from scratch on prior + online programs.

Usage: python benchmarks/transfer.py data/dataset.npz -o results/transfer.json
Writes the JSON and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fisched.costmodel.dataset import load_dataset
from fisched.costmodel.features import N_FEATURES
from fisched.costmodel.fi_model import DEFAULT_HELD_OUT_ROUNDS, DEFAULT_LABELS, DEFAULT_OBJECTIVE
from fisched.costmodel.importance import fit_model, pairwise_accuracy
from fisched.costmodel.importance import fit_selection as select
from fisched.study.evaluate import topk_score

FI = {"labels": DEFAULT_LABELS, "objective": DEFAULT_OBJECTIVE}  # as --cost-model fi trains


def predict(model, ds, programs, columns):
    sub = ds.subset(programs)
    return model.predict(sub.features[:, columns], sub.row_ptr)


def scores(pred, ds, programs, weights) -> dict:
    lat, tid = ds.latency[programs], ds.task_id[programs]
    ok = np.isfinite(lat)
    return {"top1": topk_score(pred[ok], lat[ok], tid[ok], weights, 1),
            "top5": topk_score(pred[ok], lat[ok], tid[ok], weights, 5),
            "pairwise": pairwise_accuracy(pred[ok], lat[ok], tid[ok])}


def fit_selection(ds, programs) -> np.ndarray:
    """The fi selection's columns fitted on ``programs`` only, so nothing of the tasks scored
    leaks into it (``fisched.costmodel.importance.fit_selection``)."""
    return select(ds, programs).indices_


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("-o", "--out", default="results/transfer.json")
    ap.add_argument("--online", type=int, default=16, help="programs per task 'measured'")
    ap.add_argument("--finetune", default="25,100,400", help="fine-tune round caps to compare")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    ds = load_dataset(args.dataset)
    weights = np.array([t["weight"] or 1.0 for t in ds.tasks])
    rng = np.random.default_rng(args.seed)
    all_cols = np.arange(N_FEATURES)
    results = {}
    for model in sorted({t["model"] for t in ds.tasks}):
        mine = [i for i, t in enumerate(ds.tasks) if t["model"] == model]
        shashes = tuple(ds.tasks[i]["shash"] for i in mine)
        left_out = ds.tasks_like(models=(model,), shashes=shashes)
        prior_programs = np.flatnonzero(~np.isin(ds.task_id, left_out))
        online, held = [], []
        for t in mine:
            progs = rng.permutation(np.flatnonzero(ds.task_id == t))
            online += progs[:args.online].tolist()
            held += progs[args.online:].tolist()
        online, held = np.array(online), np.array(held)
        row = {"prior_programs": int(len(prior_programs)), "left_out_tasks": len(left_out),
               "tasks": len(mine), "online_programs": int(len(online)),
               "held_programs": int(len(held))}

        shuffles = [scores(rng.uniform(size=len(held)), ds, held, weights) for _ in range(20)]
        row["random"] = {k: float(np.mean([s[k] for s in shuffles])) for k in shuffles[0]}
        stock = fit_model(ds, online, all_cols, "stock")
        row["online-stock"] = scores(predict(stock, ds, held, all_cols), ds, held, weights)

        cols = fit_selection(ds, prior_programs)
        row["dims"] = int(len(cols))
        start = time.perf_counter()
        prior = fit_model(ds, prior_programs, cols, held_out_rounds=DEFAULT_HELD_OUT_ROUNDS,
                          **FI)
        row["prior_train_s"] = time.perf_counter() - start
        row["prior"] = scores(predict(prior, ds, held, cols), ds, held, weights)
        for rounds in map(int, args.finetune.split(",")):
            start = time.perf_counter()
            tuned = fit_model(ds, online, cols, init=prior, max_rounds=rounds, **FI)
            row[f"prior+finetune-{rounds}"] = {
                **scores(predict(tuned, ds, held, cols), ds, held, weights),
                "train_s": time.perf_counter() - start,
                "trees": tuned.booster_.num_boosted_rounds()}
        start = time.perf_counter()
        both = fit_model(ds, np.concatenate([prior_programs, online]), cols,
                         held_out_rounds=DEFAULT_HELD_OUT_ROUNDS, **FI)
        row["prior+online-retrain"] = {
            **scores(predict(both, ds, held, cols), ds, held, weights),
            "train_s": time.perf_counter() - start}
        results[model] = row
        print(model, json.dumps({k: v for k, v in row.items() if isinstance(v, dict)}),
              flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": args.dataset, "online_per_task": args.online,
                               "seed": args.seed, "results": results}, indent=2))
    configs = [k for k, v in next(iter(results.values())).items() if isinstance(v, dict)]
    lines = ["| config | " + " | ".join(f"{m} top-1 / top-5 / pairwise" for m in results) + " |",
             "|---|" + "---|" * len(results)]
    for c in configs:
        cells = [f"{r[c]['top1']:.3f} / {r[c]['top5']:.3f} / {r[c]['pairwise']:.3f}"
                 for r in results.values()]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
