"""How much faster could an arm of an experiment have ended, given what was measured at all?

    .venv/bin/python benchmarks/headroom.py results/experiment/znver4 [--extra WORKDIR ...]

Issue 19 asks the fi-prior arm for a final latency of at most 0.90 of stock's at equal budget.
A cost model only chooses which schedules get measured, so this reads the finished runs of an
experiment folder (``<model>/seed<k>/<arm>/``, their MetaSchedule databases) and, per model and
seed, sums task weight x best measured latency (the experiment's end-to-end estimate) for

- ``base`` and ``arm``: each arm's own final estimate (as in the experiment's curves);
- ``pair_best``: every task at the faster of the two arms' bests: the arm had it chosen
  as well as either search did, task by task;
- ``known_best``: every task at the fastest schedule any run of the folder measured (every
  seed, every arm), plus the workdirs ``--extra`` names (e.g. the host's collection of the
  model, ``data/collect/HOST/MODEL``): what the model's tasks are known to reach on this host.

A task with no valid measurement in a run counts at the fastest any run measured for it, so
the sums stay comparable (``tasks_ok``: how many tasks a run covers itself); a task no run
ever measured is left out of every sum, as the experiment's estimates leave it out.

Per seed it also says where the arm ended behind and ahead of ``base``, task by task (weight
x the difference of their bests, ms, over tasks both measured: ``behind_ms``, ``ahead_ms``,
and every task it ended behind on, ``behind``); the Markdown adds a second table with the
tasks most behind over all seeds (positive gaps summed; a seed where the arm was ahead on a
task does not offset them): what kept the arm from reaching ``base``'s final estimate sooner,
or at all.

``known_best / base`` well above 0.90 means no ranking of what these searches could find gets
there at this budget: the tasks' best schedules are already found by stock's search, and a
cost model wins time, not latency. Estimates are sums over tuned tasks; the compiled model's
latency adds what is not tuned (and the experiment times it side by side), so these ratios
are of the tuned part only. Measures nothing; loads each model once to get its tasks' weights.

Writes ``<experiment>/headroom.json`` (``host_cpu``: the host every run and extra workdir
names; several hosts are refused) and a Markdown table beside it (medians over seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from fisched.errors import FischedError
from fisched.metaschedule.tasks import extract
from fisched.provenance import one_host
from fisched.study.experiment import folder_runs, task_records
from fisched.workdir import load_tuned_model, model_spec, read_meta


def task_bests(workdir: Path, tasks: list) -> list[float | None]:
    """Per task, the best measured seconds in ``workdir``'s records (None: no valid one)."""
    best: list[float | None] = [None] * len(tasks)
    for task, secs in task_records(workdir, tasks):
        if task is not None and secs is not None and (best[task] is None or secs < best[task]):
            best[task] = secs
    return best


def estimate_ms(weights: list[float], bests: list[float | None],
                fallback: list[float | None]) -> float | None:
    """Sum of weight x best seconds in ms, a task without a best of its own at ``fallback``'s
    (the known best); a task with neither (none of its candidates ever ran, e.g. a gather
    whose random indices fall out of bounds) is left out, as the experiment leaves it out of
    its estimates. None if no task has a best."""
    filled = [(w, b if b is not None else f) for w, b, f in zip(weights, bests, fallback)]
    found = [w * b for w, b in filled if b is not None]
    return sum(found) * 1e3 if found else None


def fastest(*columns: list[float | None]) -> list[float | None]:
    """Task by task, the fastest of several runs' bests (None where none has one)."""
    out = []
    for values in zip(*columns):
        found = [v for v in values if v is not None]
        out.append(min(found) if found else None)
    return out


def task_gaps(tasks: list, base: list[float | None], arm: list[float | None]) -> list[dict]:
    """Per task both runs measured: weight x (arm's best - base's best) in ms, with the task's
    name, weight and both bests (us); the arm's worst first."""
    gaps = [{"task": t.name, "weight": t.weight, "base_us": b * 1e6, "arm_us": a * 1e6,
             "gap_ms": t.weight * (a - b) * 1e3}
            for t, b, a in zip(tasks, base, arm) if a is not None and b is not None]
    return sorted(gaps, key=lambda g: -g["gap_ms"])


def model_headroom(runs: list[tuple[dict, Path]], extra: list[Path], base: str,
                   arm: str) -> list[dict]:
    """Per seed with both arms finished: the estimates and ratios the module describes.
    ``runs``: (run.json contents, run folder) of one model, every arm (all count for the known
    best); ``extra``: more workdirs of it."""
    model, target = load_tuned_model(model_spec(read_meta(runs[0][1])), runs[0][1])
    tasks = extract(model, target)
    weights = [t.weight for t in tasks]
    bests = {(r["seed"], r["arm"]): task_bests(d, tasks) for r, d in runs}
    from_extra = [task_bests(d, tasks) for d in extra]
    if extra and not any(b is not None for bests_ in from_extra for b in bests_):
        print(f"warning: no --extra workdir of {model.name} has a task of it (prepared or "
              "searched otherwise?)")
    known = fastest(*bests.values(), *from_extra)
    known_ms = estimate_ms(weights, known, known)
    out = []
    for seed in sorted({s for s, _ in bests}):
        if (seed, base) not in bests or (seed, arm) not in bests:
            continue
        b, a = bests[(seed, base)], bests[(seed, arm)]
        base_ms, arm_ms = estimate_ms(weights, b, known), estimate_ms(weights, a, known)
        pair_ms = estimate_ms(weights, fastest(b, a), known)
        ratio = lambda ms: None if ms is None or not base_ms else ms / base_ms  # noqa: E731
        gaps = task_gaps(tasks, b, a)
        behind = [g for g in gaps if g["gap_ms"] > 0]
        out.append({"model": model.name, "seed": seed, "tasks": len(tasks),
                    "behind_ms": sum(g["gap_ms"] for g in behind),
                    "ahead_ms": -sum(g["gap_ms"] for g in gaps if g["gap_ms"] < 0),
                    "behind": behind,
                    "tasks_ok": {base: sum(x is not None for x in b),
                                 arm: sum(x is not None for x in a)},
                    "base_ms": base_ms, "arm_ms": arm_ms, "pair_best_ms": pair_ms,
                    "known_best_ms": known_ms, "arm_ratio": ratio(arm_ms),
                    "pair_best_ratio": ratio(pair_ms), "known_best_ratio": ratio(known_ms)})
    return out


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown(rows: list[dict], source: str, base: str, arm: str, extra: list[str],
             host: str | None) -> str:
    lines = [f"`benchmarks/headroom.py {source}"
             + "".join(f" --extra {e}" for e in extra) + f"` (runs on `{host}`): end-to-end "
             "estimates (sum of task "
             f"weight x best measured latency) over {base}'s final one, medians over seeds "
             "(range); known best: every task at the fastest schedule any run measured", "",
             f"| model | seeds | {arm} / {base} | best of the pair / {base} | "
             f"known best / {base} | {base} ms | known best ms |",
             "|---|---|---|---|---|---|---|"]
    for model in sorted({r["model"] for r in rows}):
        group = [r for r in rows if r["model"] == model]

        def cell(key, group=group):
            vals = [r[key] for r in group if r[key] is not None]
            if not vals:
                return "-"
            return f"{_median(vals):.2f} ({min(vals):.2f}-{max(vals):.2f})"
        ms = lambda key, group=group: _num(_median([r[key] for r in group]))  # noqa: E731
        lines.append(f"| {model} | {len(group)} | {cell('arm_ratio')} | "
                     f"{cell('pair_best_ratio')} | {cell('known_best_ratio')} | "
                     f"{ms('base_ms')} | {ms('known_best_ms')} |")
    lines += ["", f"Where {arm} ended behind and ahead of {base} (weight x difference of the "
              f"two runs' best latencies, summed over tasks, as a share of {base}'s final "
              "estimate; medians over seeds), and the tasks it was furthest behind on "
              "(ms behind, summed over the seeds where it was behind):", "",
              "| model | behind | ahead | tasks most behind (ms over all seeds) |",
              "|---|---|---|---|"]
    for model in sorted({r["model"] for r in rows}):
        group = [r for r in rows if r["model"] == model and r["base_ms"]]
        share = lambda key, group=group: _median(  # noqa: E731
            [r[key] / r["base_ms"] for r in group])
        worst: dict[str, float] = {}
        for r in group:
            for g in r["behind"]:
                worst[g["task"]] = worst.get(g["task"], 0.0) + g["gap_ms"]
        top = sorted(worst.items(), key=lambda kv: -kv[1])[:3]
        lines.append(f"| {model} | {_pct(share('behind_ms'))} | {_pct(share('ahead_ms'))} | "
                     + ", ".join(f"{name} {ms:.3f}" for name, ms in top) + " |")
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", help="an experiment folder (fisched experiment --workdir)")
    ap.add_argument("--arms", default=None,
                    help="base,arm (default: the folder's summary.json arms)")
    ap.add_argument("--extra", action="append", default=[],
                    help="a workdir of one of the folder's models on the same host whose "
                    "records count for the known best (repeatable)")
    args = ap.parse_args()
    root = Path(args.experiment)
    base, arm, runs = folder_runs(root, args.arms)
    if not any(r["arm"] in (base, arm) for r, _ in runs):
        raise SystemExit(f"{root} holds no finished run of {base} or {arm}")
    metas = {Path(e): read_meta(e) for e in args.extra}
    extra = {}  # model name -> its extra workdirs
    for e, meta in metas.items():
        extra.setdefault(meta["model"], []).append(e)
    try:
        host = one_host([r for r, _ in runs] + list(metas.values()), str(root))
    except FischedError as e:
        raise SystemExit(str(e)) from None
    rows = []
    for model in sorted({r["model"] for r, _ in runs}):
        rows += model_headroom([(r, d) for r, d in runs if r["model"] == model],
                               extra.get(model, []), base, arm)
    (root / "headroom.json").write_text(json.dumps(
        {"host_cpu": host, "arms": [base, arm], "extra": args.extra, "seeds": rows},
        indent=2) + "\n")
    table = markdown(rows, args.experiment, base, arm, args.extra, host)
    (root / "headroom.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
