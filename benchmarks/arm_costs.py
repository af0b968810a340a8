"""Where does each arm of an experiment spend its tuning time, and what did it choose to build?

    .venv/bin/python benchmarks/arm_costs.py results/experiment/rocketlake

Reads the finished runs of an experiment folder (``<model>/seed<k>/<arm>/run.json`` and the
run's MetaSchedule records); measures nothing. Per run:

- ``startup_s``: seconds from the run's start to its first measured batch. The fi arms build
  their cost model in it (the ``fi-prior`` arm fits its feature selection and its prior on the
  prior dataset), and the time ratio charges it to them;
- ``first_estimate_s``: seconds to the first end-to-end estimate (once every task has a
  measurement: the end of the first round over the tasks). No arm can reach another's final
  estimate sooner, so this over the other arm's tuning seconds is the floor of its time ratio;
- ``prior_train_s``: the fi model's own prior training seconds (its ``settings()``);
- ``build_s`` / ``run_s`` / ``search_s``: MetaSchedule's profile of the run: builder, runner,
  and evolutionary search (mutation plus cost-model prediction);
- ``unroll``: the share of the run's measured candidates per explicit-unroll choice
  (``meta_schedule.unroll_explicit``, the sampled maximum step). A large step unrolls the
  register tile's loops fully, and LLVM takes longer to compile it: what a cost model prefers
  shows in ``build_s``.

Writes ``<experiment>/arm_costs.json`` (``host_cpu``: the host every run names; runs of
several hosts are refused, their seconds cannot be compared) and a Markdown table beside it
(medians over seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from pathlib import Path

from fisched.errors import FischedError
from fisched.provenance import one_host, record_host
from fisched.study.experiment import run_files
from fisched.workdir import RECORD_FILE

UNROLL_ATTR = "meta_schedule.unroll_explicit"


def unroll_steps(trace: list) -> list[int]:
    """The explicit-unroll maximum steps a serialized trace chose: each ``Annotate`` with the
    unroll attribute whose value is a sampled variable, looked up in the ``SampleCategorical``
    that produced it and that instruction's decision."""
    insts, decisions = trace[0], dict((i, d) for i, d in trace[1])
    sampled = {}  # variable name -> (candidates, index of the sampling instruction)
    for i, (kind, _inputs, attrs, outputs) in enumerate(insts):
        if kind == "SampleCategorical" and outputs:
            sampled[outputs[0]] = (attrs[0], i)
    steps = []
    for kind, inputs, attrs, _outputs in insts:
        if kind == "Annotate" and attrs and attrs[0] == UNROLL_ATTR and len(inputs) > 1:
            var = inputs[1]
            if isinstance(var, str) and var in sampled and sampled[var][1] in decisions:
                candidates, at = sampled[var]
                steps.append(int(candidates[decisions[at]]))
    return steps


def unroll_shares(records: Path) -> dict[str, float]:
    """Share of the records per chosen unroll step (a record counts once per step it chose)."""
    counts: Counter = Counter()
    for line in records.read_text().splitlines():
        if line.strip():
            counts.update(unroll_steps(json.loads(line)[1][0]))
    total = sum(counts.values()) or 1
    return {str(k): counts[k] / total for k in sorted(counts)}


def run_costs(run_dir: Path) -> dict:
    run = json.loads((run_dir / "run.json").read_text())
    prof = run.get("profile_seconds") or {}
    curve = run.get("curve") or []
    settings = run.get("cost_model") or {}
    return {"model": run["model"], "seed": run["seed"], "arm": run["arm"],
            "host_cpu": record_host(run), "tune_s": run["tune_seconds"], "trials": run["measured"],
            "startup_s": curve[0]["seconds"] if curve else None,
            "first_estimate_s": next((p["seconds"] for p in curve if p.get("estimate_ms")), None),
            "prior_train_s": settings.get("prior_train_s"),
            "build_s": prof.get("SendToBuilder"), "run_s": prof.get("SendToRunner"),
            "search_s": (prof.get("EvoSearch/Evolve/Mutation", 0)
                         + prof.get("EvoSearch/Evolve/PredictNormalizedScore", 0)),
            "unroll": unroll_shares(run_dir / RECORD_FILE)}


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def markdown(runs: list[dict], source: str) -> str:
    steps = sorted({int(k) for r in runs for k in r["unroll"]})
    lines = [f"`benchmarks/arm_costs.py {source}`: medians over seeds of each arm's finished "
             "runs; seconds from MetaSchedule's profile; unroll: share of measured candidates "
             "per explicit-unroll step", "",
             "| model | arm | runs | tune s | to first batch s | to first estimate s | prior fit s "
             "| build s | run s | search s | " + " | ".join(f"unroll {s}" for s in steps) + " |",
             "|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(steps)]
    keys = sorted({(r["model"], r["arm"]) for r in runs})
    for model, arm in keys:
        group = [r for r in runs if (r["model"], r["arm"]) == (model, arm)]

        def cell(key, group=group):
            m = _median([r[key] for r in group])
            return "-" if m is None else f"{m:.0f}"
        shares = [f"{_median([r['unroll'].get(str(s), 0.0) for r in group]):.0%}"
                  for s in steps]
        seconds = ("tune_s", "startup_s", "first_estimate_s", "prior_train_s", "build_s",
                   "run_s", "search_s")
        lines.append(f"| {model} | {arm} | {len(group)} | "
                     + " | ".join(cell(k) for k in seconds) + " | " + " | ".join(shares) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", help="an experiment folder (fisched experiment --workdir)")
    args = ap.parse_args()
    root = Path(args.experiment)
    runs = [run_costs(p.parent) for p in run_files(root)]
    if not runs:
        raise SystemExit(f"{root} holds no finished run")
    try:
        host = one_host(runs, str(root))
    except FischedError as e:
        raise SystemExit(str(e)) from None
    (root / "arm_costs.json").write_text(
        json.dumps({"host_cpu": host, "runs": runs}, indent=2) + "\n")
    table = markdown(runs, args.experiment)
    (root / "arm_costs.md").write_text(table)
    print(table, end="")


if __name__ == "__main__":
    main()
