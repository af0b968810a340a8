"""What validation (``fisched.tuning.validate``) does to the experiment's compiled models.

    .venv/bin/python benchmarks/validate_pairs.py bert --seeds 3

For each seed of ``results/experiment/znver3/<model>``, both arms' databases are validated (the 5 best
schedules of every task re-timed side by side; the picks go to
``results/validate/<model>/seed<k>/<arm>/``, the experiment's own workdirs are not touched),
compiled with the picks, and the four libraries (each arm as tuned and validated) are timed with
ONNX Runtime in rotating rounds. Writes ``results/validate/<model>.json`` (per seed: the
latencies, validation's per-task picks) and a table, ``<model>.md``, and prints per seed the
validated/as-tuned ratio of each arm and the arms' ratio before and after. Resumable per seed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a model of the experiment (its zoo name)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--arms", default="xgb,fi-prior")
    ap.add_argument("--experiment", default="results/experiment/znver3",
                    help="an experiment folder (default: the znver3 one these were written for)")
    ap.add_argument("--out", default="results/validate")
    ap.add_argument("--budget", type=float, default=10.0, help="timed seconds per library")
    args = ap.parse_args()

    from fisched.tuning.compile import LIBRARY_FILE, compile_with_database, workdir_database
    from fisched.tuning.measure import VMRunner, time_side_by_side
    from fisched.tuning.tune import load_tuned_model
    from fisched.tuning.validate import validate

    arms = args.arms.split(",")
    out_file = Path(args.out) / f"{args.model}.json"
    results = json.loads(out_file.read_text()) if out_file.exists() else {"seeds": {}}
    for seed in range(args.seeds):
        if str(seed) in results["seeds"]:
            continue
        seed_dir = Path(args.experiment) / args.model / f"seed{seed}"
        if not all((seed_dir / a / LIBRARY_FILE).exists() for a in arms):
            print(f"seed {seed}: not every arm has a compiled model; skipped")
            continue
        model, target = load_tuned_model(args.model, seed_dir / arms[0])
        fns, picks = {}, {}
        for arm in arms:
            picks_dir = Path(args.out) / args.model / f"seed{seed}" / arm
            picks[arm] = validate(model, seed_dir / arm, target, picks_dir=picks_dir)
            lib = picks_dir / LIBRARY_FILE
            compile_with_database(model, target, workdir_database(seed_dir / arm, picks_dir)
                                  ).export_library(str(lib))
            fns[arm] = VMRunner(str(seed_dir / arm / LIBRARY_FILE))
            fns[f"{arm}+validated"] = VMRunner(str(lib))
        latency, error = time_side_by_side(model, fns, args.budget)
        results["seeds"][str(seed)] = {"latency": latency, "validation": picks,
                                       "max_relative_error": error}
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(results, indent=1))
        ms = {k: v["median_ms"] for k, v in latency.items()}
        a, b = arms
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in ms.items()))
        print(f"  validated/as tuned: {a} {ms[a + '+validated'] / ms[a]:.3f}, "
              f"{b} {ms[b + '+validated'] / ms[b]:.3f}; {b}/{a} as tuned {ms[b] / ms[a]:.3f}, "
              f"validated {ms[b + '+validated'] / ms[a + '+validated']:.3f}", flush=True)
    if results["seeds"]:
        write_table(results, arms, out_file.with_suffix(".md"))


def write_table(results: dict, arms: list[str], path: Path) -> None:
    """Per seed: each arm as tuned and validated, their ratios, what validation changed."""
    a, b = arms
    lines = [f"| seed | {a} ms | {a}+validated | {b} ms | {b}+validated | {b}/{a} as tuned | "
             f"{b}/{a} validated | reference ms | picks changed ({a}, {b}) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for seed, row in sorted(results["seeds"].items()):
        ms = {k: v["median_ms"] for k, v in row["latency"].items()}
        ref = next(v for k, v in ms.items() if k not in (a, b, f"{a}+validated", f"{b}+validated"))
        changed = [sum(not t["kept"] for t in row["validation"][arm]["tasks"]) for arm in arms]
        tasks = [len(row["validation"][arm]["tasks"]) for arm in arms]
        lines.append(f"| {seed} | {ms[a]:.3f} | {ms[a + '+validated']:.3f} | {ms[b]:.3f} | "
                     f"{ms[b + '+validated']:.3f} | {ms[b] / ms[a]:.3f} | "
                     f"{ms[b + '+validated'] / ms[a + '+validated']:.3f} | {ref:.3f} | "
                     f"{changed[0]}/{tasks[0]}, {changed[1]}/{tasks[1]} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
