"""How much of "time to reach stock's final estimate" is the last percent?

    .venv/bin/python benchmarks/reach_tolerance.py \
        results/experiment-rounds4-3hosts/znver4:fi-prior \
        results/experiment-explore/znver4:fi-prior-explore

Issue 19's time target reads the trials (and seconds) an fi arm needs to reach stock's *final*
end-to-end estimate, a point stock itself often reaches only in its last batches. Where both
searches end within a few percent of the best schedules known (``benchmarks/headroom.py``), the
last step to it can be one measurement of one task, and the figure swings with it. This reads
the finished runs of experiment folders (``FOLDER:ARM``, the baseline arm ``--base``, stock
``xgb`` by default) and reports, per model and tolerance ``t`` (0, 1, 2 and 5%), the share of
stock's trials each arm needed to reach ``(1 + t)`` x stock's final estimate over as many tasks
(``experiment.reach_point``, the experiment summary's rule; a seed counts where both arms
finished and stock has a final estimate):

- ``arm``: the candidate arm's trials to it over stock's trials (None: never within the budget);
- ``base``: stock's own on the same scale (1.0 at ``t = 0`` unless stock got there before its
  last batch), so the two columns say how much sooner the candidate got there than stock did.

Medians over every seed, a seed that never got there counting as slower than any that did: a
median is None (``-``) unless more than half the seeds got there (with an even count, both
middle ones). The experiment's summary takes its median over the seeds that got there only, so
at ``t = 0`` this column differs from its "trials to it" wherever a seed never got there (the
per-seed figures, in the JSON, are the same). Trials, not seconds: the ratio machine speed
cannot move (the arms of some folders ran hours apart against the same stock runs). Each arm's
first estimate bounds it from below: before every task has a measurement there is none, so the
5% column is often that first point. ``first``: that first estimate over stock's final one
(median over seeds): how good the first round's picks were, whenever they came. Measures
nothing: reads ``run.json`` curves only.

Writes ``results/reach_tolerance/<host>.json`` (``host_cpu``: the one host every run names;
several are refused; ``--out`` another folder) and ``<host>.md`` beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from fisched.errors import FischedError
from fisched.provenance import one_host
from fisched.study.experiment import reach_point, run_files

ROOT = Path(__file__).resolve().parent.parent

TOLERANCES = (0.0, 0.01, 0.02, 0.05)


def trials_to(curve: list[dict], target_ms: float, tasks_ok: int, total: int) -> float | None:
    """Trials of ``curve`` to its first estimate at or under ``target_ms`` over at least
    ``tasks_ok`` tasks, as a share of ``total``; None if never."""
    point = reach_point(curve, target_ms, tasks_ok)
    return None if point is None else point["trials"] / total


def pair_reach(base: dict, arm: dict) -> dict:
    """One seed: per tolerance, both arms' trials to within it of ``base``'s final estimate,
    as shares of ``base``'s trials; and ``first``: the arm's first estimate over as many tasks
    (after its first round), over ``base``'s final one."""
    last = base["curve"][-1]
    ok = last.get("tasks_ok", 0)
    first = next((p for p in arm["curve"]
                  if p["estimate_ms"] is not None and p.get("tasks_ok", 0) >= ok), None)
    out = {"first": None if first is None else first["estimate_ms"] / last["estimate_ms"]}
    for tol in TOLERANCES:
        target = last["estimate_ms"] * (1 + tol)
        out[f"{tol:g}"] = {"arm": trials_to(arm["curve"], target, ok, last["trials"]),
                           "base": trials_to(base["curve"], target, ok, last["trials"])}
    return out


def median_or_none(values: list[float | None]) -> float | None:
    """The median over every seed, one that never got there (None) counting as slower than
    any that did: a median over the seeds that got there would flatter an arm that seldom
    does. None unless more than half got there."""
    middle = statistics.median([float("inf") if v is None else v for v in values])
    return None if middle == float("inf") else middle


def folder_reach(runs: list[dict], arm: str, base: str) -> dict:
    """Per model of one folder's ``runs`` (run.json contents): every seed with both arms
    finished, and the medians."""
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
        firsts = [s["reach"]["first"] for s in seeds if s["reach"]["first"] is not None]
        medians["first"] = statistics.median(firsts) if firsts else None
        out[model] = {"seeds": seeds, "median": medians}
    return out


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(result: dict, command: str) -> str:
    heads = " | ".join(f"within {tol:.0%}" for tol in TOLERANCES)
    lines = [f"`{command}` (runs on `{result['host_cpu']}`): trials to reach (1 + t) x "
             f"{result['base']}'s final estimate, as a share of {result['base']}'s trials, "
             f"the arm's / {result['base']}'s own, medians over seeds (one that never got "
             "there counts as slowest; -: not more than half got there; how many did in "
             "brackets); first estimate: the arm's first (every task measured once) over "
             f"{result['base']}'s final, median", "",
             f"| model | arm | runs | seeds | first estimate / {result['base']}'s final | "
             f"{heads} |", "|---|---|---|---|---|" + "---|" * len(TOLERANCES)]
    for entry in result["folders"]:
        for model, m in entry["models"].items():
            cells = []
            for tol in TOLERANCES:
                v = m["median"][f"{tol:g}"]
                cells.append(f"{fmt(v['arm'])} / {fmt(v['base'])} "
                             f"({v['arm_reached']}/{len(m['seeds'])})")
            runs = Path(entry["folder"]).parent.name  # results/<experiment>/<host>
            lines.append(f"| {model} | {entry['arm']} | {runs} | {len(m['seeds'])} | "
                         f"{fmt(m['median']['first'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", metavar="FOLDER:ARM",
                    help="an experiment folder (fisched experiment --workdir) and its arm")
    ap.add_argument("--base", default="xgb", help="the baseline arm (default: xgb)")
    ap.add_argument("-o", "--out", default=str(ROOT / "results" / "reach_tolerance"),
                    help="folder for <host>.{json,md}")
    args = ap.parse_args()
    entries, records = [], []
    for spec in args.folders:
        folder, sep, arm = spec.rpartition(":")
        if not sep or not folder:
            raise SystemExit(f"{spec}: expected FOLDER:ARM")
        runs = [json.loads(p.read_text()) for p in run_files(folder)]
        records += runs
        models = folder_reach(runs, arm, args.base)
        if not models:
            raise SystemExit(f"{folder}: no seed with both {args.base} and {arm} finished")
        entries.append({"folder": folder, "arm": arm, "models": models})
    try:
        host = one_host(records, ", ".join(args.folders))
    except FischedError as e:
        raise SystemExit(str(e)) from None
    command = "benchmarks/reach_tolerance.py " + " ".join(args.folders)
    result = {"host_cpu": host, "base": args.base, "tolerances": list(TOLERANCES),
              "command": command, "folders": entries}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(result, command)
    (out / f"{host}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{host}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
