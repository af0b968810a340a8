"""Should the fi prior train on the host at hand only, on every host, or on another host's data?

Leave-host-out and leave-model-out on a dataset holding programs of two or more hosts (each
task knows its host: ``fisched.costmodel.dataset.task_host``). For every host H and every model M measured
on H, M's tasks on H are scored (TenSet top-1 / top-5 by task weight, pairwise accuracy) by a
prior trained on

- ``random``: no model (20 shuffles): what an untrained cost model's first pick is worth;
- ``same-host``: H's programs of every other model (any task structurally equal to one of M's
  left out too);
- ``other-host``: the other hosts' programs, all models: a user whose CPU is in no shipped
  dataset, tuning a model the shipped data has seen elsewhere;
- ``other-host-loo``: the other hosts' programs without M's: that user on a model no one
  measured;
- ``all-hosts``: ``same-host`` plus ``other-host-loo``;
- ``other-host+desc``: ``other-host``'s programs, each row also given its host's descriptor
  (vector width in bits, cores, ISA features as LLVM knows the CPU: ``dataset.
  host_descriptor``), H's rows H's own: can what two or more other hosts' descriptors teach
  place a host no one measured? (With a single other host the descriptor is constant and
  this is ``other-host``.)
- ``all-hosts+desc``: ``all-hosts``' programs with the descriptors, so that the trees can
  split the hosts where their rankings differ (``FeatureImportanceModel(host_features=True)``).

Each arm's feature selection is fitted on its own training programs only (``transfer.
fit_selection``), and trained as the fi model trains its prior (``fisched.costmodel.fi_model``'s
labels, objective and held-out tree count). No online programs: this is the ranking before
the first measurement, whose first pick the search measures first.

Usage: python benchmarks/host_transfer.py DATASET [DATASET ...] -o results/host_transfer.json
[--hosts H,...] [--models M,...] (several datasets are concatenated; --hosts/--models limit
which rows are scored, not what trains them). Writes the JSON and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from transfer import FI, fit_selection, predict, scores

from fisched.costmodel.dataset import (concat_datasets, host_name, load_dataset, task_host,
                                       with_host_columns)
from fisched.costmodel.fi_model import DEFAULT_HELD_OUT_ROUNDS
from fisched.costmodel.importance import fit_model
from fisched.metaschedule.target import host_info

ARMS = ("random", "same-host", "other-host", "other-host+desc", "other-host-loo", "all-hosts",
        "all-hosts+desc")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("-o", "--out", default="results/host_transfer.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default=None, help="comma-separated models to score "
                    "(default: every model of every host)")
    ap.add_argument("--hosts", default=None, help="comma-separated hosts whose tasks to score "
                    "(default: every host's; every host's programs still train the arms)")
    args = ap.parse_args()

    ds = concat_datasets([load_dataset(p) for p in args.datasets])
    ds_desc, desc_cols = with_host_columns(ds)
    hosts = np.array([host_name(task_host(ds, t)) for t in ds.tasks])
    models = np.array([t["model"] for t in ds.tasks])
    weights = np.array([t["weight"] or 1.0 for t in ds.tasks])
    prog_host, prog_model = hosts[ds.task_id], models[ds.task_id]
    rng = np.random.default_rng(args.seed)
    wanted = set(args.models.split(",")) if args.models else None
    scored = sorted(set(args.hosts.split(",")) if args.hosts else set(hosts))
    results: dict = {}
    for host in scored:
        for model in sorted(set(models[hosts == host])):
            if wanted and model not in wanted:
                continue
            mine = [i for i in range(len(ds.tasks)) if hosts[i] == host and models[i] == model]
            held = np.flatnonzero(np.isin(ds.task_id, mine))
            # a task of another model structurally equal to one of M's is M's too
            shashes = {ds.tasks[i].get("shash") for i in mine} - {None}
            twin = np.array([t.get("shash") in shashes for t in ds.tasks])[ds.task_id]
            same = (prog_host == host) & (prog_model != model) & ~twin
            other = prog_host != host
            other_loo = other & (prog_model != model) & ~twin
            train = {"same-host": same, "other-host": other, "other-host-loo": other_loo,
                     "all-hosts": same | other_loo}
            # the same programs, more features
            train["other-host+desc"], train["all-hosts+desc"] = other, train["all-hosts"]
            row: dict = {"tasks": len(mine), "programs": int(len(held))}
            shuffles = [scores(rng.uniform(size=len(held)), ds, held, weights)
                        for _ in range(20)]
            row["random"] = {k: float(np.mean([s[k] for s in shuffles])) for k in shuffles[0]}
            for arm, mask in train.items():
                programs = np.flatnonzero(mask)
                if len(programs) < 100:
                    row[arm] = None
                    continue
                start = time.perf_counter()
                cols = fit_selection(ds, programs)
                data = ds
                if arm.endswith("+desc"):
                    data, cols = ds_desc, np.concatenate([cols, desc_cols])
                prior = fit_model(data, programs, cols, held_out_rounds=DEFAULT_HELD_OUT_ROUNDS,
                                  **FI)
                row[arm] = {**scores(predict(prior, data, held, cols), ds, held, weights),
                            "train_programs": int(len(programs)), "dims": int(len(cols)),
                            "train_s": time.perf_counter() - start}
            results.setdefault(host, {})[model] = row
            print(host, model, json.dumps({a: row[a] and round(row[a]["top1"], 3)
                                           for a in ARMS}), flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"host_cpu": host_info()["llvm_cpu"], "datasets": args.datasets,
                               "hosts": sorted(set(hosts)), "scored_hosts": scored,
                               "seed": args.seed,
                               "results": results}, indent=2))
    out.with_suffix(".md").write_text(table(results))
    print(table(results))


def table(results: dict) -> str:
    """Markdown: a row per (host, model) scored, a column per arm, top-1 / top-5."""
    lines = ["Scored tasks: every task of the model on the host; cells are top-1 / top-5 "
             "(weighted by task weight), `-` where the arm has no training data.", "",
             "| host | model | tasks | " + " | ".join(ARMS) + " |",
             "|---|---|---|" + "---|" * len(ARMS)]
    for host, rows in results.items():
        for model, row in rows.items():
            cells = [f"{row[a]['top1']:.3f} / {row[a]['top5']:.3f}" if row.get(a) else "-"
                     for a in ARMS]
            lines.append(f"| {host} | {model} | {row['tasks']} | " + " | ".join(cells) + " |")
        # each model counts once, whatever its number of tasks
        cells = []
        for a in ARMS:
            got = [row[a] for row in rows.values() if row.get(a)]
            cells.append(f"**{np.mean([g['top1'] for g in got]):.3f} / "
                         f"{np.mean([g['top5'] for g in got]):.3f}**" if got else "-")
        lines.append(f"| {host} | *mean of models* | "
                     f"{sum(r['tasks'] for r in rows.values())} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
