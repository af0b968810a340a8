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
per task), recording every population the model scores, and writes per model:

- ``below_zero``: the share of a population scored below 0, mean over the search's calls;
- ``none_positive``: the share of calls in which no program scored above 0 (the search's
  parents all come from one program, and its picks are in sampling order);
- ``fewer_positive_than_batch``: calls with fewer programs above 0 than the task's batch (some
  picks are in sampling order);
- ``parents_clip`` / ``parents_odds``: the parent draw's effective share of the population,
  ``(sum w)^2 / sum w^2 / n``, for weights ``max(score, 0)`` (as the search draws them) and
  ``exp(score)`` (``FeatureImportanceModel(odds=True)``, the fi-prior-odds arm), means over the
  calls that have a positive score (``none_positive`` counts the others).

to ``results/score_clip/<host>.json`` (``host_cpu``) and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def parent_share(weights: np.ndarray) -> float | None:
    """Effective sample size of a draw in proportion to ``weights``, over their count (1: every
    program as likely, 1/n: one program); None if no weight is positive."""
    total = float(weights.sum())
    if total <= 0:
        return None
    return total ** 2 / float((weights ** 2).sum()) / len(weights)


def call_stats(scores: np.ndarray, batch: int) -> dict:
    """One scored population: what the clip at 0 leaves of it."""
    positive = int((scores > 0).sum())
    return {"n": len(scores), "below_zero": float(np.mean(scores < 0)), "positive": positive,
            "fewer_than_batch": positive < batch,
            "parents_clip": parent_share(np.maximum(scores, 0.0)),
            # shifted by the maximum: the same draw, no overflow
            "parents_odds": parent_share(np.exp(scores - scores.max()))}


def summarize(calls: list[dict]) -> dict:
    def mean(key):
        values = [c[key] for c in calls if c[key] is not None]
        return float(np.mean(values)) if values else None

    return {"calls": len(calls), "below_zero": mean("below_zero"),
            "none_positive": float(np.mean([c["positive"] == 0 for c in calls])),
            "fewer_positive_than_batch": float(np.mean([c["fewer_than_batch"] for c in calls])),
            "parents_clip": mean("parents_clip"), "parents_odds": mean("parents_odds")}


def recording(inner, calls: list, batch: int):
    """A cost model that scores as ``inner`` does and records each scored population."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    @derived_object
    class Recording(ms.cost_model.PyCostModel):
        def update(self, context, candidates, results):
            inner.update(context, candidates, results)

        def predict(self, context, candidates):
            scores = np.asarray(inner.predict(context, candidates), dtype=float)
            calls.append(call_stats(scores, batch))
            return scores

        def save(self, path):
            inner.save(path)

        def load(self, path):
            inner.load(path)

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
             "| model | populations | below 0 | none above 0 | fewer above 0 than the batch "
             "| parents drawn from, clipped | with exp(score) |", "|---|---|---|---|---|---|---|"]
    for spec in args.models.split(","):
        model = load_model(spec, threads=cores, **arm_settings(target))
        tasks = extract(model, target)
        prior, _ = prior_for(None, model, tasks)
        batch = trials_per_iter(args.trials // args.rounds, len(tasks))
        calls: list[dict] = []
        cost = recording(make_arm_model("fi-prior", cores, args.seed, prior), calls, batch)
        with tempfile.TemporaryDirectory() as tmp:
            tune(model, tmp, target, args.trials // args.rounds, cost_model="fi-prior",
                 seed=args.seed, progress=False, num_trials_per_iter=batch,
                 cost_model_obj=cost)
        row = {"tasks": len(tasks), "batch": batch, **summarize(calls)}
        out["models"][model.name] = row
        print(model.name, row, flush=True)
        share = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(f"| {model.name} | {row['calls']} | {share(row['below_zero'])} | "
                     f"{share(row['none_positive'])} | "
                     f"{share(row['fewer_positive_than_batch'])} | "
                     f"{share(row['parents_clip'])} | {share(row['parents_odds'])} |")
    dest = Path(args.out)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"{host}.json").write_text(json.dumps(out, indent=2) + "\n")
    (dest / f"{host}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
