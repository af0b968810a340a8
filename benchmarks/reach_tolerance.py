"""How much of "time to reach stock's final estimate" is the last percent?

    .venv/bin/python benchmarks/reach_tolerance.py \
        results/experiment-rounds4-3hosts/znver4:fi-prior \
        results/experiment-explore/znver4:fi-prior-explore --out results/reach_tolerance/znver4

Issue 19's time target reads the trials (and seconds) an fi arm needs to reach stock's *final*
end-to-end estimate, a point stock itself only reaches at its own end. Where both searches are
within a few percent of the best schedules known (``benchmarks/headroom.py``), that last step is
one lucky measurement of one task, and the figure swings with it. This reads the finished runs of
experiment folders (``FOLDER:ARM``, the baseline arm ``--base``, stock ``xgb`` by default) and
reports, per model and tolerance ``t`` (0, 1, 2 and 5%), the share of stock's trials each arm
needed to reach ``(1 + t)`` x stock's final estimate, over as many tasks
(``experiment.reach_point``, the same rule as the experiment's summary):

- ``arm``: the candidate arm's trials to it over stock's trials (None: never within the budget);
- ``base``: stock's own, on the same scale (1.0 at ``t = 0`` unless stock got there before its
  last batch), so the two columns say how much sooner the candidate got there than stock did.

Medians over every seed (one that never got there counts as slower than any that did; ``-``:
the median seed never got there), with how many seeds reached; per seed in the JSON. Trials, not seconds: the
ratio machine speed cannot move (the arms of some folders ran hours apart against the same stock
runs). Measures nothing: reads ``run.json`` curves only.

Writes ``OUT.json`` (``host_cpu``: the one host every run names; several are refused) and
``OUT.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from fisched.errors import FischedError
from fisched.provenance import one_host
from fisched.study.experiment import reach_point, run_files

TOLERANCES = (0.0, 0.01, 0.02, 0.05)


def trials_to(curve: list[dict], target_ms: float, tasks_ok: int, total: int) -> float | None:
    """Trials of ``curve`` to its first estimate at or under ``target_ms`` over at least
    ``tasks_ok`` tasks, as a share of ``total``; None if never."""
    point = reach_point(curve, target_ms, tasks_ok)
    return None if point is None else point["trials"] / total


def pair_reach(base: dict, arm: dict) -> dict:
    """One seed: per tolerance, both arms' trials to within it of ``base``'s final estimate,
    as shares of ``base``'s trials."""
    last = base["curve"][-1]
    ok = last.get("tasks_ok", 0)
    out = {}
    for tol in TOLERANCES:
        target = last["estimate_ms"] * (1 + tol)
        out[f"{tol:g}"] = {"arm": trials_to(arm["curve"], target, ok, last["trials"]),
                           "base": trials_to(base["curve"], target, ok, last["trials"])}
    return out


def median_or_none(values: list[float | None]) -> float | None:
    """The median over every seed, one that never got there counting as slower than any that
    did (a median over the seeds that got there would flatter an arm that seldom does); None
    when the median seed never got there."""
    middle = statistics.median([float("inf") if v is None else v for v in values])
    return None if middle == float("inf") else middle


def folder_reach(folder: Path, arm: str, base: str) -> dict:
    """Per model of ``folder``: every seed with both arms finished, and the medians."""
    runs = [json.loads(p.read_text()) for p in run_files(folder)]
    out = {}
    for model in sorted({r["model"] for r in runs}):
        by = {(r["seed"], r["arm"]): r for r in runs if r["model"] == model}
        seeds = []
        for seed in sorted({s for s, _ in by}):
            b, a = by.get((seed, base)), by.get((seed, arm))
            if a is None or b is None or not b["curve"] or b["curve"][-1]["estimate_ms"] is None:
                continue
            seeds.append({"seed": seed, "reach": pair_reach(b, a)})
        if not seeds:
            continue
        medians = {}
        for tol in TOLERANCES:
            key = f"{tol:g}"
            arm_v = [s["reach"][key]["arm"] for s in seeds]
            medians[key] = {"arm": median_or_none(arm_v),
                            "arm_reached": sum(v is not None for v in arm_v),
                            "base": median_or_none([s["reach"][key]["base"] for s in seeds])}
        out[model] = {"seeds": seeds, "median": medians}
    return out


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(result: dict, command: str) -> str:
    heads = " | ".join(f"within {tol:.0%}" for tol in TOLERANCES)
    lines = [f"`{command}` (runs on `{result['host_cpu']}`): trials to reach (1 + t) x "
             f"{result['base']}'s final estimate, as a share of {result['base']}'s trials, "
             f"the arm's / {result['base']}'s own, medians over seeds (one that never got "
             "there counts as slowest; -: the median seed never did; seeds that got there in "
             "brackets)", "",
             f"| model | arm | seeds | {heads} |",
             "|---|---|---|" + "---|" * len(TOLERANCES)]
    for entry in result["folders"]:
        for model, m in entry["models"].items():
            cells = []
            for tol in TOLERANCES:
                v = m["median"][f"{tol:g}"]
                cells.append(f"{fmt(v['arm'])} / {fmt(v['base'])} "
                             f"({v['arm_reached']}/{len(m['seeds'])})")
            lines.append(f"| {model} | {entry['arm']} | {len(m['seeds'])} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", metavar="FOLDER:ARM",
                        help="experiment folder and its candidate arm")
    parser.add_argument("--base", default="xgb", help="the baseline arm (default: xgb)")
    parser.add_argument("--out", required=True, help="path without suffix for .json and .md")
    args = parser.parse_args(argv)
    entries, records = [], []
    for spec in args.folders:
        folder, sep, arm = spec.rpartition(":")
        if not sep or not folder:
            raise FischedError(f"{spec}: expected FOLDER:ARM")
        records += [json.loads(p.read_text()) for p in run_files(folder)]
        models = folder_reach(Path(folder), arm, args.base)
        if not models:
            raise FischedError(f"{folder}: no seed with both {args.base} and {arm} finished")
        entries.append({"folder": folder, "arm": arm, "models": models})
    host = one_host(records, ", ".join(args.folders))
    command = "benchmarks/reach_tolerance.py " + " ".join(args.folders) + f" --out {args.out}"
    result = {"host_cpu": host, "base": args.base, "tolerances": list(TOLERANCES),
              "command": command, "folders": entries}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result, command))
    print(markdown(result, command))
    return result


if __name__ == "__main__":
    main()
