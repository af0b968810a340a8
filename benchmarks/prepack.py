"""Do prepacked weights make the tuned model faster, at equal trials?

    .venv/bin/python benchmarks/prepack.py resnet18 mobilenet_v2 --trials 300

Per model, ``fisched tune`` twice from scratch, same seed, same budget, fisched's defaults
otherwise: once with weights as the model file has them (``--no-prepack``, "old": what fisched
compiled until prepacking became the CLI's default) and once with ``--prepack`` (each kernel's schedule picks its weights' layout, folded into
the constants at compile time). The arms alternate (the first flips from one model to the
next); then both libraries and ONNX Runtime are timed side by side in rotating rounds, 20 s
each, at the target's cores, and ``results/ort_gap/prepack.json`` gets
``{"host_cpu": ..., MODEL: {"trials": n, "new_ms": prepacked, "old_ms": as-is, "ratio":
new/old, "reference_ms": ONNX Runtime, "tune_seconds": {...}}}`` and a Markdown table beside it.

Resumable: a workdir whose tune finished (``report.json`` with its budget) is not tuned again;
a cut one resumes from its records. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BUDGET_S = 20.0
ARMS = {"old": ["--no-prepack"], "new": ["--prepack"]}


def tuned(workdir: Path, trials: int) -> bool:
    """Whether ``workdir`` holds a finished tune of exactly this budget (and its library)."""
    report, meta = workdir / "report.json", workdir / "fisched.json"
    return (report.exists() and meta.exists() and (workdir / "model.so").exists()
            and json.loads(meta.read_text()).get("trials") == trials
            and json.loads(report.read_text())["records"] >= trials)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["resnet18", "mobilenet_v2"])
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="runs/prepack")
    ap.add_argument("--out", default="results/ort_gap/prepack.json")
    args = ap.parse_args()

    from fisched.compile import LIBRARY_FILE
    from fisched.measure import VMRunner, max_relative_error, time_side_by_side
    from fisched.target import host_info
    from fisched.tune import load_tuned_model

    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    data["host_cpu"] = host_info()["llvm_cpu"]  # this run's; each model's entry has its own
    for k, model_name in enumerate(args.models):
        arms = list(ARMS.items())
        if k % 2:
            arms.reverse()
        seconds = {}
        for arm, flags in arms:
            wd = Path(args.runs) / model_name / f"seed{args.seed}" / arm
            if not tuned(wd, args.trials):
                cmd = [sys.executable, "-m", "fisched.cli", "tune", model_name, "--trials",
                       str(args.trials), "--seed", str(args.seed), "--workdir", str(wd), "-q",
                       *flags]
                print(" ".join(cmd), flush=True)
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            run = json.loads((wd / "report.json").read_text())["this_run"]
            # a resumed arm's last run is only part of its tuning time
            seconds[arm] = run["seconds"] if run["trials_before"] == 0 else None
        dirs = {arm: Path(args.runs) / model_name / f"seed{args.seed}" / arm for arm in ARMS}
        model, _target = load_tuned_model(model_name, dirs["old"])
        runners = {arm: VMRunner(str(dirs[arm] / LIBRARY_FILE)) for arm in ARMS}
        expected = model.reference.run(model.inputs)
        errors = {arm: max_relative_error(runners[arm](model.inputs), expected) for arm in ARMS}
        latency, _err = time_side_by_side(model, runners, BUDGET_S)
        ref = model.reference.name
        data[model_name] = {"trials": args.trials, "seed": args.seed,
                            "new_ms": latency["new"]["median_ms"],
                            "old_ms": latency["old"]["median_ms"],
                            "ratio": latency["new"]["median_ms"] / latency["old"]["median_ms"],
                            "reference": ref, "reference_ms": latency[ref]["median_ms"],
                            "tune_seconds": seconds, "max_relative_error": errors,
                            "host": host_info(), "latency": latency}
        print(f"{model_name}: prepacked {data[model_name]['new_ms']:.2f} ms, as-is "
              f"{data[model_name]['old_ms']:.2f} ms, {ref} {data[model_name]['reference_ms']:.2f}"
              " ms", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n")
        out.with_suffix(".md").write_text(markdown(data))


def markdown(data: dict) -> str:
    lines = ["`benchmarks/prepack.py`; median of rotating rounds, 20 s each; max relative "
             "error of both libraries against the reference", "",
             "| model | host | trials | as-is ms | prepacked ms | prepacked/as-is | reference ms "
             "| prepacked/reference | error (as-is, prepacked) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in data.items():
        if not isinstance(row, dict) or "ratio" not in row:
            continue
        err = row["max_relative_error"]
        lines.append(f"| {name} | {row['host']['llvm_cpu']} | {row['trials']} | "
                     f"{row['old_ms']:.2f} | {row['new_ms']:.2f} | {row['ratio']:.2f} | "
                     f"{row['reference_ms']:.2f} ({row['reference']}) | "
                     f"{row['new_ms'] / row['reference_ms']:.2f} | "
                     f"{err['old']:.1e}, {err['new']:.1e} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
