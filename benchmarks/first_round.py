"""Which tasks did an arm's first round miss? The first picks, task by task, against stock's end.

    .venv/bin/python benchmarks/first_round.py results/experiment-softplus/znver4

A prior's work is the first round: the candidates a task gets before any of its own
measurements. The experiment's curves give its sum (the arm's first end-to-end estimate,
``benchmarks/reach_tolerance.py``'s first column); this says where it came from. It reads the
finished runs of an experiment folder (``<model>/seed<k>/<arm>/``, their databases) and, per
model and seed, takes each task's first round in each arm: its first ``trials_per_iter``
records (``run.json``; the batch every task gets in the round robin that opens a run: a search
that returned fewer candidates lends the rest of it to the task's next batch; known schedules a
``fi-library`` run reused come first and count), the best of them, against stock's final best
on the task. Per seed:

- ``arm_first`` / ``base_first``: the sum of task weight x best first-round latency over
  stock's final estimate, for the candidate arm and for stock (tasks a run never measured in
  its first round count at stock's final best, so both sums cover the same tasks);
- ``tasks``: per task, weight, both arms' first-round bests and stock's final best (us), and
  ``gap_ms``: weight x (arm's first-round best - stock's final best).

The Markdown gives the medians and the tasks with the largest gaps over all seeds: where the
prior's first picks were furthest from what the search ends with. Loads each model once for its
tasks' weights and names; measures nothing. Writes ``<experiment>/first_round.json``
(``host_cpu``) and ``first_round.md`` beside it.
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

TOP = 3  # tasks named per model in the Markdown


def first_round_bests(records: list[tuple[int | None, float | None]], per_task: int,
                      n_tasks: int) -> list[float | None]:
    """Per task, the best seconds among its first ``per_task`` records (in measurement order);
    None if none of them ran."""
    seen = [0] * n_tasks
    best: list[float | None] = [None] * n_tasks
    for task, secs in records:
        if task is None or seen[task] >= per_task:
            continue
        seen[task] += 1
        if secs is not None and (best[task] is None or secs < best[task]):
            best[task] = secs
    return best


def final_bests(records: list[tuple[int | None, float | None]],
                n_tasks: int) -> list[float | None]:
    return first_round_bests(records, len(records) or 1, n_tasks)


def seed_first_round(names: list[str], weights: list[float], arm_first: list[float | None],
                     base_first: list[float | None], base_final: list[float | None]) -> dict:
    """One seed's sums and per-task gaps (tasks stock never measured are left out)."""
    keep = [i for i, b in enumerate(base_final) if b is not None]
    total = sum(weights[i] * base_final[i] for i in keep)
    at = lambda col, i: col[i] if col[i] is not None else base_final[i]  # noqa: E731
    tasks = [{"task": names[i], "weight": weights[i],
              "arm_first_us": None if arm_first[i] is None else arm_first[i] * 1e6,
              "base_first_us": None if base_first[i] is None else base_first[i] * 1e6,
              "base_final_us": base_final[i] * 1e6,
              "gap_ms": weights[i] * (at(arm_first, i) - base_final[i]) * 1e3} for i in keep]
    return {"base_final_ms": total * 1e3,
            "arm_first": sum(weights[i] * at(arm_first, i) for i in keep) / total,
            "base_first": sum(weights[i] * at(base_first, i) for i in keep) / total,
            "tasks": sorted(tasks, key=lambda t: -t["gap_ms"])}


def model_first_round(runs: list[tuple[dict, Path]], base: str, arm: str) -> list[dict]:
    """Per seed with both arms finished (one model's runs: run.json contents, folder)."""
    model, target = load_tuned_model(model_spec(read_meta(runs[0][1])), runs[0][1])
    tasks = extract(model, target)
    names, weights = [t.name for t in tasks], [float(t.weight) for t in tasks]
    by = {(r["seed"], r["arm"]): (r, d) for r, d in runs}
    out = []
    for seed in sorted({s for s, _ in by}):
        if (seed, base) not in by or (seed, arm) not in by:
            continue
        (b_run, b_dir), (a_run, a_dir) = by[(seed, base)], by[(seed, arm)]
        b_recs, a_recs = task_records(b_dir, tasks), task_records(a_dir, tasks)
        got = seed_first_round(
            names, weights, first_round_bests(a_recs, a_run["trials_per_iter"], len(tasks)),
            first_round_bests(b_recs, b_run["trials_per_iter"], len(tasks)),
            final_bests(b_recs, len(tasks)))
        out.append({"model": model.name, "seed": seed, **got})
    return out


def markdown(rows: list[dict], command: str, base: str, arm: str, host: str) -> str:
    lines = [f"`{command}` (runs on `{host}`): each task's first round (its first batch of "
             f"candidates), weight x best latency summed, over {base}'s final estimate, medians "
             f"over seeds (range); and the tasks where {arm}'s first round was furthest from "
             f"{base}'s final best (weight x difference, ms, summed over seeds)", "",
             f"| model | seeds | {arm} first round | {base} first round | "
             f"tasks furthest behind ({arm}) |", "|---|---|---|---|---|"]
    for model in sorted({r["model"] for r in rows}):
        group = [r for r in rows if r["model"] == model]

        def cell(key, group=group):
            vals = [r[key] for r in group]
            return f"{statistics.median(vals):.2f} ({min(vals):.2f}-{max(vals):.2f})"
        gaps: dict[str, float] = {}
        for r in group:
            for t in r["tasks"]:
                gaps[t["task"]] = gaps.get(t["task"], 0.0) + t["gap_ms"]
        top = sorted(gaps.items(), key=lambda kv: -kv[1])[:TOP]
        lines.append(f"| {model} | {len(group)} | {cell('arm_first')} | {cell('base_first')} | "
                     + ", ".join(f"{name} {ms:.3f}" for name, ms in top) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", help="an experiment folder (fisched experiment --workdir)")
    ap.add_argument("--arms", default=None,
                    help="base,arm (default: the folder's summary.json arms)")
    args = ap.parse_args()
    root = Path(args.experiment)
    base, arm, runs = folder_runs(root, args.arms)
    try:
        host = one_host([r for r, _ in runs], str(root))
    except FischedError as e:
        raise SystemExit(str(e)) from None
    rows = []
    for model in sorted({r["model"] for r, _ in runs}):
        rows += model_first_round([x for x in runs if x[0]["model"] == model], base, arm)
    if not rows:
        raise SystemExit(f"{root}: no seed with both {base} and {arm} finished")
    command = f"benchmarks/first_round.py {args.experiment}" + (
        f" --arms {args.arms}" if args.arms else "")
    (root / "first_round.json").write_text(json.dumps(
        {"host_cpu": host, "arms": [base, arm], "command": command, "seeds": rows},
        indent=2) + "\n")
    table = markdown(rows, command, base, arm, host)
    (root / "first_round.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
