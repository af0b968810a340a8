"""What does exploring cost a round's picks? fi-prior's top picks with and without Gumbel noise.

    .venv/bin/python benchmarks/explore_pool.py --models resnet18,bert,mobilenet_v2 --host znver4

``FeatureImportanceModel(explore=T)`` measures a task's candidates by score + T x a Gumbel draw
instead of by score (fi_model.py; the experiment's ``fi-prior-explore`` arm). What that buys,
a search that leaves a confident prior's neighbourhood, only a tuning run shows. What it costs
in a single round can be read offline, and this does so on the measured programs of a dataset
(default: everything fisched ships): for each model, the prior is every program except that
model's tasks (by name and by structure, as the experiment's fi-prior arm), with its feature
selection fitted on that prior alone; for each of the model's tasks measured on ``--host``
(at least ``--min-programs`` valid ones), the ``--picks`` programs it would measure from that
pool are scored by the fastest of them over the task's fastest (1.0: the round found the best):

- ``T=0``: the model's top picks (fi-prior as it is);
- ``T=t``: the top picks by perturbed score, averaged over ``--draws`` draws;
- ``random``: picks at random, averaged over as many draws (an untrained model's round).

Per model, the geometric mean over tasks, and the share of programs the prior scores below 0
(MetaSchedule's evolutionary search clips scores at 0: those tie at the bottom of its ranking
and are never picked as parents to mutate). A pool of already measured programs is not the
search's population (those were chosen by earlier searches, so random picks from it are better
than the search's random samples): read the columns against each other, not as tuning results.
Writes ``results/explore_pool/<host>.json`` (``host_cpu``: the host the latencies were measured
on) and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fisched.costmodel.dataset import host_name, load_dataset, task_host
from fisched.costmodel.fi_model import DEFAULT_PRIOR, gumbel_noise
from fisched.costmodel.library import shipped_prior
from fisched.study.experiment import make_arm_model


def round_quality(scores: np.ndarray, latency: np.ndarray, picks: int, temperature: float,
                  draws: int, stream: int = 0) -> float:
    """Fastest of the ``picks`` top programs by score (+ ``temperature`` x Gumbel noise,
    averaged over ``draws``), over the fastest of all. ``stream``: which draws (one per task,
    so tasks do not share their noise)."""
    keys = list(range(len(scores)))
    tries = [scores] if temperature == 0 else [
        scores + temperature * gumbel_noise(keys, stream * draws + salt)
        for salt in range(draws)]
    return float(np.mean([latency[np.argsort(-s)[:picks]].min() for s in tries])
                 / latency.min())


def random_quality(latency: np.ndarray, picks: int, draws: int, stream: int = 0) -> float:
    rng = np.random.default_rng(stream)
    return float(np.mean([latency[rng.choice(len(latency), picks, replace=False)].min()
                          for _ in range(draws)]) / latency.min())


def model_rows(ds, model: str, host: str, temps: list[float], picks: int, draws: int,
               min_programs: int) -> list[dict]:
    mine = [i for i, t in enumerate(ds.tasks) if t.get("model") == model]
    prior, _ = ds.without_tasks(models=(model,),
                                shashes=tuple(ds.tasks[i]["shash"] for i in mine
                                              if "shash" in ds.tasks[i]))
    # the experiment's fi-prior model on that prior (its selection fitted there), seed 0
    arm = make_arm_model("fi-prior", 1, 0, prior_ds=prior)
    cols, fitted = arm.columns, arm.prior_model
    lat = ds.latency
    rows = []
    for i in mine:
        if host_name(task_host(ds, ds.tasks[i])) != host:
            continue
        progs = np.flatnonzero((ds.task_id == i) & np.isfinite(lat))
        if len(progs) < max(min_programs, picks + 1):
            continue
        sub = ds.subset(progs)
        scores = fitted.predict(sub.features[:, cols], sub.row_ptr)
        row = {"task": ds.tasks[i]["name"], "programs": len(progs),
               "below_zero": float(np.mean(scores < 0)),
               "random": random_quality(lat[progs], picks, draws, stream=i)}
        for t in temps:
            row[f"T={t:g}"] = round_quality(scores, lat[progs], picks, t, draws, stream=i)
        rows.append(row)
    return rows


def geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=None, help="default: the data fisched ships")
    ap.add_argument("--models", required=True, help="comma-separated model names in it")
    ap.add_argument("--host", required=True, help="LLVM cpu name whose measurements to score")
    ap.add_argument("--temperatures", default="0.25,0.5,1")
    ap.add_argument("--picks", type=int, default=2, help="programs a round measures per task")
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--min-programs", type=int, default=20)
    ap.add_argument("-o", "--out", default="results/explore_pool")
    args = ap.parse_args()
    ds = load_dataset(args.dataset) if args.dataset else shipped_prior(DEFAULT_PRIOR)
    temps = [0.0] + [float(t) for t in args.temperatures.split(",")]
    columns = [f"T={t:g}" for t in temps] + ["random"]
    out = {"host_cpu": args.host, "dataset": args.dataset or "shipped", "picks": args.picks,
           "draws": args.draws, "models": {}}
    lines = [f"`benchmarks/explore_pool.py --models {args.models} --host {args.host} "
             f"--picks {args.picks}`: host `{args.host}`; fastest of a round's {args.picks} "
             "picks over the task's fastest measured program (1.00: the round found it), "
             "geometric mean over the model's tasks; prior and selection without the model's "
             "tasks; T: exploration temperature (0: fi-prior's top picks)", "",
             "| model | tasks | " + " | ".join(columns) + " | scored below 0 |",
             "|---|---|" + "---|" * (len(columns) + 1)]
    for model in args.models.split(","):
        rows = model_rows(ds, model, args.host, temps, args.picks, args.draws,
                          args.min_programs)
        if not rows:
            print(f"{model}: no task measured on {args.host} with enough programs")
            continue
        means = {c: geomean([r[c] for r in rows]) for c in columns}
        below = float(np.mean([r["below_zero"] for r in rows]))
        out["models"][model] = {"geomean": means, "below_zero": below, "tasks": rows}
        lines.append(f"| {model} | {len(rows)} | "
                     + " | ".join(f"{means[c]:.3f}" for c in columns) + f" | {below:.2f} |")
    dest = Path(args.out)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"{args.host}.json").write_text(json.dumps(out, indent=2) + "\n")
    table = "\n".join(lines) + "\n"
    (dest / f"{args.host}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
