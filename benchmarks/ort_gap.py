"""Tuned model against ONNX Runtime, whole models, at a trial budget or a tuning-time budget.

    .venv/bin/python benchmarks/ort_gap.py resnet18 mobilenet_v2 bert --trials 300
    .venv/bin/python benchmarks/ort_gap.py resnet18 mobilenet_v2 bert --time-limit 3600

Per model: ``fisched tune`` with the CLI's defaults for the host (prepacked weights, NHWC
convolutions, stock XGBModel, seed 0) for ``--trials`` trials, or for ``--time-limit``
seconds of tuning (``fisched tune --time-limit``, with ``--trials`` as a cap); then the
library and ONNX Runtime are timed side by side in rotating rounds, 20 s each, same threads
(the target's cores), and the tuned output is checked against ONNX Runtime's.

Writes ``results/ort_gap/summary.json``: ``{"host_cpu": ..., "models": {"resnet18":
[{"trials": n, "time_limit": s or null, "tune_seconds": s, "tuned_ms": t, "reference_ms":
r, "ratio": t / r, ...}, ...], ...}}`` (one entry per budget, replaced when re-run) and a
Markdown table beside it.

Workdirs: ``RUNS/MODEL/seed0/new`` for a trial budget, the same as ``benchmarks/prepack.py``'s
``new`` arm (with the default ``--runs runs/prepack`` a model tuned there is not tuned again),
``RUNS/MODEL/seed0/limit<S>s`` for a time budget. Resumable: a finished arm is not tuned
again; a cut trial-budget arm resumes from its records. A cut time-budget arm resumes for
the time its finished runs have not used (the cut run's own time is not known, so such an
arm may have tuned longer than the budget in all; ``runs`` in its entry says so).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from prepack import BUDGET_S, PURE, tune_arm

DONE_FILE = "ort_gap.json"  # in a time-budget workdir: its finished runs' seconds


def tune_for_time(model_name: str, workdir: Path, limit: float, cap: int, seed: int) -> dict:
    """Tune ``workdir`` for ``limit`` seconds in all (resuming); its finished runs' record."""
    done_path = workdir / DONE_FILE
    done = json.loads(done_path.read_text()) if done_path.exists() else {"seconds": [],
                                                                          "finished": False}
    left = limit - sum(done["seconds"])
    if not done["finished"] and left > 1:
        cmd = [sys.executable, "-m", "fisched.cli", "tune", model_name, "--trials", str(cap),
               "--time-limit", f"{left:.0f}", "--seed", str(seed), "--workdir", str(workdir),
               "-q", *PURE]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        run = json.loads((workdir / "report.json").read_text())["this_run"]
        done["seconds"].append(run["seconds"])
        done["finished"] = True
        done_path.write_text(json.dumps(done))
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["resnet18", "mobilenet_v2", "bert"])
    ap.add_argument("--trials", type=int, default=None,
                    help="trial budget (default 300), or the cap with --time-limit (100000)")
    ap.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="runs/prepack")
    ap.add_argument("--out", default="results/ort_gap/summary.json")
    args = ap.parse_args()
    trials = args.trials or (100_000 if args.time_limit else 300)

    from fisched.metaschedule.target import open_host_results
    from fisched.tuning.compile import LIBRARY_FILE
    from fisched.tuning.measure import VMRunner, time_against_reference
    from fisched.tuning.tune import load_tuned_model, read_meta

    out = Path(args.out)
    data, host = open_host_results(out, {"models": {}})
    for model_name in args.models:
        seed_dir = Path(args.runs) / model_name / f"seed{args.seed}"
        if args.time_limit:
            wd = seed_dir / f"limit{args.time_limit:.0f}s"
            runs = tune_for_time(model_name, wd, args.time_limit, trials, args.seed)["seconds"]
            seconds = sum(runs)
        else:
            wd = seed_dir / "new"
            seconds = tune_arm(model_name, wd, trials, args.seed, [])  # None: not known
            runs = None
        meta = read_meta(wd)
        model, _target = load_tuned_model(model_name, wd)
        runner = VMRunner(str(wd / LIBRARY_FILE))
        timed, error = time_against_reference(model, runner, "tuned", BUDGET_S,
                                              default_max_runs=100_000)
        lat = {t.name: t for t in timed}
        ref = model.reference.name
        records = json.loads((wd / "report.json").read_text())["records"]
        entry = {"trials": records, "trial_cap": trials, "time_limit": args.time_limit,
                 "tune_seconds": seconds, "runs": runs, "seed": args.seed,
                 "tuned_ms": lat["tuned"].median_ms, "reference": ref,
                 "reference_ms": lat[ref].median_ms,
                 "ratio": lat["tuned"].median_ms / lat[ref].median_ms,
                 "spread_ms": {k: list(v.spread_ms) for k, v in lat.items()},
                 "max_relative_error": error, "weights": meta.get("weights"),
                 "layout": meta.get("layout"), "kernels": meta.get("kernels", "stock"),
                 "cost_model": meta.get("cost_model"),
                 "host": host, "workdir": str(wd)}
        key = ("time_limit", args.time_limit) if args.time_limit else ("trial_cap", trials)
        rows = [r for r in data["models"].get(model_name, [])
                if not (r.get(key[0]) == key[1] and (key[0] == "time_limit"
                                                     or r.get("time_limit") is None))]
        data["models"][model_name] = sorted(rows + [entry],
                                            key=lambda r: (r["time_limit"] or 0, r["trials"]))
        print(f"{model_name}: tuned {entry['tuned_ms']:.2f} ms, {ref} "
              f"{entry['reference_ms']:.2f} ms, ratio {entry['ratio']:.2f} "
              f"({records} trials, {seconds or 0:.0f} s)", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n")
        out.with_suffix(".md").write_text(markdown(data))


def markdown(data: dict) -> str:
    lines = [f"`benchmarks/ort_gap.py`; host `{data['host_cpu']}`; fisched's CPU defaults, "
             "stock XGBModel, seed 0; median of rotating rounds (20 s each), p10-p90 in "
             "brackets; tuned / ONNX Runtime below 1 means fisched's model is faster", "",
             "| model | budget | trials | tune s | tuned ms | onnxruntime ms | tuned / ORT | "
             "max rel. error |", "|---|---|---|---|---|---|---|---|"]
    for name, rows in data["models"].items():
        for r in rows:
            budget = (f"{r['time_limit']:.0f} s" if r["time_limit"] else
                      f"{r['trial_cap']} trials")
            secs = "—" if r["tune_seconds"] is None else f"{r['tune_seconds']:.0f}"
            t, o = r["spread_ms"]["tuned"], r["spread_ms"][r["reference"]]
            lines.append(f"| {name} | {budget} | {r['trials']} | {secs} | {r['tuned_ms']:.2f} "
                         f"({t[0]:.2f}-{t[1]:.2f}) | {r['reference_ms']:.2f} "
                         f"({o[0]:.2f}-{o[1]:.2f}) | {r['ratio']:.2f} | "
                         f"{r['max_relative_error']:.1e} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
