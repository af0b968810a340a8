"""What did the known schedules a run started from give it, against a run without them?

    .venv/bin/python benchmarks/reuse_gain.py results/experiment-library/znver4:fi-library \
        --control results/experiment-library-control/znver4:fi-prior

A run with reuse on (``fisched tune --reuse``, the ``fi-library`` arm) measures the best known
schedules of every task whose workload the host's library or the shipped one holds, and commits
them to its database before the search (``fisched.tuning.reuse.warm_start``): they are the
run's first records, ``run.json``'s ``reused`` says how many per task (so in a run started
afresh, as ``fisched experiment`` starts every run; a ``fisched tune`` workdir resumed in a
later session would have them further down). Whether that is a head start depends on how
good those schedules are against what the search finds by itself. This reads, per model and seed, the reuse arm's runs (``FOLDER:ARM``), a control's runs of the same
seed without library or reuse (``--control FOLDER:ARM``, same prior and selection) and stock's
(``--base``, in the reuse arm's folder), and gives, per reused task:

- ``known_us``: the best of its known schedules as measured at the run's start;
- ``arm_us``, ``control_us``, ``base_us``: each run's best on the task at its end;
- ``control_at``: the share of the control's trials after which it had measured a schedule at
  most ``1 + TOLERANCE`` x ``known_us`` on the task (None: never): how long the head start
  lasted, as a share of the run;
- ``weight``: how often the model calls the task.

Per seed it sums weight x latency over the reused tasks: stock's final bests on them as a share
of stock's final estimate (``reused_share``: the part of the model reuse could move), and
``known_vs_control``: weight x (known - control's final best), summed, over stock's final
estimate (below 0: the known schedules beat what the control ended with on these tasks; None
where no reused task has a control record). The trials the known schedules took are
``reuse_trials``. Loads each model once for its tasks' weights and names; measures nothing.

Writes ``results/reuse_gain/<host>.json`` (``host_cpu``: the one host every run names; several
are refused) and ``<host>.md`` beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from fisched.errors import FischedError
from fisched.metaschedule.tasks import extract
from fisched.provenance import one_host
from fisched.study.experiment import run_files, task_records
from fisched.workdir import load_tuned_model, model_spec, read_meta

ROOT = Path(__file__).resolve().parent.parent

TOLERANCE = 0.01  # "as good as the known schedule": within 1% (one measurement's noise here)


def bests(records: list[tuple[int | None, float | None]]) -> dict[int, float]:
    """Per task index, the best seconds among ``records`` (``task_records``' pairs)."""
    out: dict[int, float] = {}
    for task, secs in records:
        if task is not None and secs is not None and (task not in out or secs < out[task]):
            out[task] = secs
    return out


def caught_up(records: list[tuple[int | None, float | None]], task: int,
              level: float) -> float | None:
    """Share of ``records`` (in measurement order) after which ``task`` had a record at or
    under ``level`` seconds; None if it never had."""
    for i, (t, secs) in enumerate(records):
        if t == task and secs is not None and secs <= level:
            return (i + 1) / len(records)
    return None


def seed_gain(arm: list, control: list, base: list, n_reused: int, names: list[str],
              weights: list[float]) -> dict:
    """One seed: ``arm``, ``control``, ``base``: the three runs' ``task_records``; the arm's
    first ``n_reused`` records are the known schedules it started from."""
    known = bests(arm[:n_reused])
    arm_b, ctl_b, base_b = bests(arm), bests(control), bests(base)
    base_ms = sum(weights[t] * s for t, s in base_b.items()) * 1e3
    rows = []
    for task, secs in sorted(known.items(), key=lambda kv: -weights[kv[0]] * kv[1]):
        rows.append({"task": names[task], "weight": weights[task], "known_us": secs * 1e6,
                     "arm_us": arm_b[task] * 1e6,
                     "control_us": ctl_b[task] * 1e6 if task in ctl_b else None,
                     "base_us": base_b[task] * 1e6 if task in base_b else None,
                     "control_at": caught_up(control, task, secs * (1 + TOLERANCE))})
    both = [r for r in rows if r["control_us"] is not None]
    in_base = [r for r in rows if r["base_us"] is not None]
    return {"reuse_trials": n_reused, "tasks": rows, "base_ms": base_ms,
            "reused_share": sum(r["weight"] * r["base_us"] for r in in_base) * 1e-3 / base_ms
            if base_ms and in_base else None,
            "known_vs_control": sum(r["weight"] * (r["known_us"] - r["control_us"])
                                    for r in both) * 1e-3 / base_ms
            if base_ms and both else None}


def model_gain(runs: list[tuple[dict, Path]], arm: str, control: list[tuple[dict, Path]],
               control_arm: str, base: str) -> list[dict]:
    """Per seed where the reuse arm, the control and stock all finished (one model)."""
    model, target = load_tuned_model(model_spec(read_meta(runs[0][1])), runs[0][1])
    tasks = extract(model, target)
    names, weights = [t.name for t in tasks], [float(t.weight) for t in tasks]
    by = {(r["seed"], r["arm"]): (r, d) for r, d in runs}
    ctl = {r["seed"]: (r, d) for r, d in control if r["arm"] == control_arm}
    out = []
    for seed in sorted({s for s, _ in by}):
        if (seed, arm) not in by or (seed, base) not in by or seed not in ctl:
            continue
        run, wd = by[(seed, arm)]
        got = seed_gain(task_records(wd, tasks), task_records(ctl[seed][1], tasks),
                        task_records(by[(seed, base)][1], tasks),
                        sum(run.get("reused", {}).values()), names, weights)
        out.append({"model": model.name, "seed": seed, **got})
    return out


def _num(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def markdown(rows: list[dict], command: str, host: str) -> str:
    lines = [f"`{command}` (runs on `{host}`): per reused task, the best known schedule as "
             "measured at the run's start against each run's best at its end (us), and the "
             "share of the control's trials after which it had one as fast (within "
             f"{TOLERANCE:.0%}); per seed, the reused tasks' share of stock's final estimate "
             "and weight x (known - control's final), summed, over it", "",
             "| model | seed | reuse trials | reused share | known - control | task | weight | "
             "known us | arm us | control us | stock us | control as fast at |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for i, t in enumerate(r["tasks"]):
            head = (f"| {r['model']} | {r['seed']} | {r['reuse_trials']} | "
                    f"{_num(r['reused_share'], '.1%')} | {_num(r['known_vs_control'], '+.1%')} |"
                    if i == 0 else "| | | | | |")
            lines.append(f"{head} {t['task']} | {t['weight']:g} | {t['known_us']:.1f} | "
                         f"{t['arm_us']:.1f} | {_num(t['control_us'], '.1f')} | "
                         f"{_num(t['base_us'], '.1f')} | {_num(t['control_at'])} |")
    return "\n".join(lines) + "\n"


def _folder_arm(spec: str) -> tuple[str, str]:
    folder, sep, arm = spec.rpartition(":")
    if not sep or not folder:
        raise SystemExit(f"{spec}: expected FOLDER:ARM")
    return folder, arm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", metavar="FOLDER:ARM", help="an experiment folder and its reuse arm")
    ap.add_argument("--control", required=True, metavar="FOLDER:ARM",
                    help="the same models and seeds without library or reuse")
    ap.add_argument("--base", default="xgb", help="stock's arm in FOLDER (default: xgb)")
    ap.add_argument("-o", "--out", default=str(ROOT / "results" / "reuse_gain"),
                    help="folder for <host>.{json,md}")
    args = ap.parse_args()
    folder, arm = _folder_arm(args.folder)
    ctl_folder, ctl_arm = _folder_arm(args.control)
    runs = [(json.loads(p.read_text()), p.parent) for p in run_files(folder)]
    control = [(json.loads(p.read_text()), p.parent) for p in run_files(ctl_folder)]
    try:
        host = one_host([r for r, _ in runs + control], f"{folder}, {ctl_folder}")
    except FischedError as e:
        raise SystemExit(str(e)) from None
    rows = []
    for model in sorted({r["model"] for r, _ in runs if r.get("reused")}):
        rows += model_gain([x for x in runs if x[0]["model"] == model], arm,
                           [x for x in control if x[0]["model"] == model], ctl_arm, args.base)
    if not rows:
        raise SystemExit(f"no seed with {arm} (reused schedules), {args.base} and the "
                         f"control's {ctl_arm} all finished")
    command = ("benchmarks/reuse_gain.py " + args.folder + " --control " + args.control
               + ("" if args.base == "xgb" else f" --base {args.base}"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    compared = [r["known_vs_control"] for r in rows if r["known_vs_control"] is not None]
    (out / f"{host}.json").write_text(json.dumps(
        {"host_cpu": host, "command": command, "tolerance": TOLERANCE,
         "median_known_vs_control": statistics.median(compared) if compared else None,
         "seeds": rows}, indent=2) + "\n")
    table = markdown(rows, command, host)
    (out / f"{host}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
