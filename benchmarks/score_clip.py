"""What MetaSchedule's clip at 0 does to fi-prior's scores inside a real search.

    .venv/bin/python benchmarks/score_clip.py --models resnet18,bert,mobilenet_v2

MetaSchedule's evolutionary search clips every predicted score at 0 (``PredictNormalizedScore``,
evolutionary_search.cc), keeps the best by score across its generations, and draws the parents
it mutates in proportion to the scores (``MakeMultinomialSampler``: a program scored 0 is never
drawn, and when the whole population is at 0 every draw is its first program). That was written
for ``XGBModel``'s normalised throughputs in [0, 1]; the fi model's pairwise margins have an
arbitrary offset. benchmarks/explore_pool.py counts the margins below 0 on already measured
programs; this counts them in the populations a search actually scores.

For each model it runs the first round of the experiment's fi-prior arm (``fisched experiment
--trials 300 --rounds 4``: the prior and selection without the model's tasks, the same batch
per task), recording every population the model scores, split into searches (one per task
visit: a task's populations between two updates of it), and writes per model:

- ``below_zero``: the share of a population scored below 0, mean over the populations;
- ``none_positive``: the share of searches that scored no program above 0 (its parents all
  came from one program, and it measured its candidates in the order they were sampled);
- ``fewer_positive_than_batch``: searches that scored fewer distinct programs above 0 than the
  task's batch (some of its picks are in sampling order);
- ``parents_clip`` / ``parents_odds`` / ``parents_softplus``: how widely a generation's
  parent draw spreads, its effective share of the population ``(sum w)^2 / sum w^2 / n``, for
  weights ``max(score, 0)`` (as the search draws them; 1/n when none is above 0: every draw is
  the first program), ``exp(score)`` (``FeatureImportanceModel(score_map="odds")``, the
  fi-prior-odds arm) and ``log(1 + exp(score))`` (``score_map="softplus"``, the
  fi-prior-softplus arm); means over the populations that feed a draw (each search's last one
  only ranks). These are fi-prior's populations drawn from as the other maps would draw: a
  search under another map breeds other populations.

to ``results/score_clip/<host>.json`` (``host_cpu``) and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def parent_share(weights: np.ndarray) -> float:
    """Effective sample size of MetaSchedule's draw in proportion to ``weights``
    (``MakeMultinomialSampler``), over their count: 1 if every program is as likely, 1/n if
    one program is drawn every time (as when no weight is positive: the draw is then 0 and
    lands on the first program)."""
    total = float(weights.sum())
    if total <= 0:
        return 1.0 / len(weights)
    return total ** 2 / float((weights ** 2).sum()) / len(weights)


def call_stats(scores: np.ndarray, keys: list[int]) -> dict:
    """One scored population (``keys``: its programs' structural hashes)."""
    return {"n": len(scores), "below_zero": float(np.mean(scores < 0)),
            "positive_keys": {k for k, v in zip(keys, scores) if v > 0},
            "parents_clip": parent_share(np.maximum(scores, 0.0)),
            # shifted by the maximum: the same draw, no overflow
            "parents_odds": parent_share(np.exp(scores - scores.max())),
            "parents_softplus": parent_share(np.logaddexp(0.0, scores))}


def summarize(searches: list[list[dict]], batch: int) -> dict:
    """Means over a model's searches (each a list of ``call_stats``, in order)."""
    calls = [c for search in searches for c in search]
    drawing = [c for search in searches for c in search[:-1]]  # the last call only ranks
    positive = [len(set().union(*(c["positive_keys"] for c in search))) for search in searches]
    mean = lambda key, rows: float(np.mean([r[key] for r in rows])) if rows else None  # noqa
    return {"populations": len(calls), "searches": len(searches),
            "below_zero": mean("below_zero", calls),
            "none_positive": float(np.mean([p == 0 for p in positive])),
            "fewer_positive_than_batch": float(np.mean([p < batch for p in positive])),
            "parents_clip": mean("parents_clip", drawing),
            "parents_odds": mean("parents_odds", drawing),
            "parents_softplus": mean("parents_softplus", drawing)}


def recording(inner, searches: list):
    """A cost model that scores as ``inner`` (a ``FeatureImportanceModel``) does and records
    each scored population into ``searches``: a task's search is its populations from its
    first one after an update of that task (or the start) to the next update."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms
    from tvm_ffi import structural_hash

    model = inner._inst  # the Python object, not its TVM wrapper: no round trip through C++
    open_searches: dict[int, list] = {}  # task (structural hash) -> its search so far

    @derived_object
    class Recording(ms.cost_model.PyCostModel):
        def update(self, context, candidates, results):
            model.update(context, candidates, results)
            open_searches.pop(int(structural_hash(context.mod)), None)

        def predict(self, context, candidates):
            scores = np.asarray(model.predict(context, candidates), dtype=float)
            task = int(structural_hash(context.mod))
            if task not in open_searches:
                open_searches[task] = []
                searches.append(open_searches[task])
            keys = [int(structural_hash(c.sch.mod)) for c in candidates]
            open_searches[task].append(call_stats(scores, keys))
            return scores

        def save(self, path):
            model.save(path)

        def load(self, path):
            model.load(path)

    return Recording()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True, help="comma-separated model specs")
    ap.add_argument("--trials", type=int, default=300, help="the experiment's budget")
    ap.add_argument("--rounds", type=int, default=4, help="the experiment's rounds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", default=str(ROOT / "results" / "score_clip"))
    args = ap.parse_args()

    from fisched.metaschedule.target import host_cpu, make_target, num_cores
    from fisched.models.frontend import load_model
    from fisched.provenance import provenance
    from fisched.study.experiment import arm_settings, make_arm_model, prior_for
    from fisched.tuning.tune import extract, trials_per_iter, tune

    target = make_target()
    cores = num_cores(target)
    host = host_cpu()
    out = {"host_cpu": host, "arm": "fi-prior", "trials": args.trials, "rounds": args.rounds,
           "seed": args.seed, "models": {}, "provenance": provenance(target)}
    lines = [f"`benchmarks/score_clip.py --models {args.models}`: host `{host}`; the first "
             f"round of fi-prior (`--trials {args.trials} --rounds {args.rounds}`), every "
             "population the search scored", "",
             "| model | searches | populations | below 0 | searches with none above 0 | "
             "with fewer above 0 than the batch | parent draw's spread, clipped | "
             "with exp(score) | with log(1 + exp(score)) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for spec in args.models.split(","):
        model = load_model(spec, threads=cores, **arm_settings(target))
        tasks = extract(model, target)
        prior, _ = prior_for(None, model, tasks)
        batch = trials_per_iter(args.trials // args.rounds, len(tasks))
        searches: list[list[dict]] = []
        cost = recording(make_arm_model("fi-prior", cores, args.seed, prior), searches)
        with tempfile.TemporaryDirectory() as tmp:
            tune(model, tmp, target, args.trials // args.rounds, cost_model="fi-prior",
                 seed=args.seed, progress=False, num_trials_per_iter=batch,
                 cost_model_obj=cost)
        row = {"tasks": len(tasks), "batch": batch,
               **summarize(searches, batch)}
        out["models"][model.name] = row
        print(model.name, row, flush=True)
        share = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(f"| {model.name} | {row['searches']} | {row['populations']} | "
                     f"{share(row['below_zero'])} | "
                     f"{share(row['none_positive'])} | "
                     f"{share(row['fewer_positive_than_batch'])} | "
                     f"{share(row['parents_clip'])} | {share(row['parents_odds'])} | "
                     f"{share(row['parents_softplus'])} |")
    dest = Path(args.out)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"{host}.json").write_text(json.dumps(out, indent=2) + "\n")
    (dest / f"{host}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
