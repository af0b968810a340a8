"""Do fisched's CPU defaults (prepacked weights, NHWC, register-tiled kernels) beat the old pipeline?

    .venv/bin/python benchmarks/prepack.py resnet18 mobilenet_v2 --trials 300

Per model, ``fisched tune`` from scratch in three arms, same seed, same budget, fisched's
settings otherwise:

- ``old``: weights and layouts as the model file has them, MetaSchedule's own design space
  (``--no-prepack --layout as-is --kernels stock``), the pipeline fisched compiled before any
  of the steps;
- ``prepack``: weights prepacked only (``--prepack --layout as-is --kernels stock``);
- ``nhwc``: prepacked and NHWC, MetaSchedule's design space (``--kernels stock``: the CPU
  defaults before register tiling);
- ``new``: the CLI's defaults for CPU targets (prepacked weights, ``--layout nhwc``,
  ``--kernels register-tiled``).

``prepack`` and ``nhwc`` show each step's share; they run only when named in ``--arms`` (each
costs another tune).

The arms' order rotates from one model to the next. Then the libraries and ONNX Runtime
are timed side by side in rotating rounds, 20 s each, at the target's cores, and each library
is checked against ONNX Runtime's output. ``results/ort_gap/prepack.json`` gets
``{"host_cpu": ..., MODEL: {"trials": n, "new_ms": a, "old_ms": b, "ratio": a / b,
"prepack_ms": ... (or null), "reference_ms": ONNX Runtime, "tune_seconds": {...}, ...}}`` and a
Markdown table beside it. Results from another host are not mixed in: an entry whose host
differs from this one is refused (move the file under a folder named for its host first).

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
ARMS = {"old": ["--no-prepack", "--layout", "as-is", "--kernels", "stock"],
        "prepack": ["--prepack", "--layout", "as-is", "--kernels", "stock"],
        "nhwc": ["--prepack", "--layout", "nhwc", "--kernels", "stock"],
        "new": []}  # the defaults; main checks they are what the docstring says


def tuned(workdir: Path, trials: int) -> bool:
    """Whether ``workdir`` holds a finished tune of exactly this budget (and its library)."""
    report, meta = workdir / "report.json", workdir / "fisched.json"
    return (report.exists() and meta.exists() and (workdir / "model.so").exists()
            and json.loads(meta.read_text()).get("trials") == trials
            and json.loads(report.read_text())["records"] >= trials)


PURE = ["--no-reuse", "--no-learn"]
"""Every arm tunes from nothing and leaves the host's library alone: a known schedule would
make an arm's result depend on what was tuned before it (``fisched.costmodel.library``)."""


def tune_arm(model_name: str, workdir: Path, trials: int, seed: int, flags: list[str]):
    """Tune one arm (unless done); its tuning seconds in all (a resumed arm's from its tuning
    curve), or None where they are not known."""
    if not tuned(workdir, trials):
        cmd = [sys.executable, "-m", "fisched.cli", "tune", model_name, "--trials", str(trials),
               "--seed", str(seed), "--workdir", str(workdir), "-q", *PURE, *flags]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    run = json.loads((workdir / "report.json").read_text())["this_run"]
    if run["trials_before"] == 0:
        return run["seconds"]
    # resumed: the tuning curve sums the seconds of every run (workdirs from before it: None)
    from fisched.workdir import read_curve

    curve = read_curve(workdir)
    return curve[-1]["seconds"] if curve and curve[-1]["trials"] >= trials else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["resnet18", "mobilenet_v2"])
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arms", default="old,new", help="comma-separated, from: " + ",".join(ARMS))
    ap.add_argument("--runs", default="runs/prepack",
                    help="workdirs: RUNS/MODEL/seedS/ARM (benchmarks/ort_gap.py reads 'new')")
    ap.add_argument("--out", default="results/ort_gap/prepack.json")
    args = ap.parse_args()

    from fisched.metaschedule.target import open_host_results
    from fisched.tuning.compile import LIBRARY_FILE
    from fisched.tuning.measure import VMRunner, max_relative_error, time_side_by_side
    from fisched.tuning.tune import load_tuned_model, read_meta

    out = Path(args.out)
    data, host = open_host_results(out)
    arms = [a for a in ARMS if a in args.arms.split(",")]
    if "old" not in arms or "new" not in arms:
        sys.exit("--arms needs at least old and new")
    for k, model_name in enumerate(args.models):
        names = list(arms)
        names = names[k % len(names):] + names[:k % len(names)]
        dirs = {arm: Path(args.runs) / model_name / f"seed{args.seed}" / arm for arm in arms}
        seconds = {arm: tune_arm(model_name, dirs[arm], args.trials, args.seed, ARMS[arm])
                   for arm in names}
        new_meta = read_meta(dirs["new"])
        defaults = (new_meta.get("weights"), new_meta.get("layout"), new_meta.get("kernels"))
        if defaults != ("prepacked", "nhwc", "register-tiled"):
            sys.exit(f"the CLI's defaults are no longer prepacked/nhwc/register-tiled: "
                     f"{dirs['new']} has {'/'.join(map(str, defaults))}; update this script")
        runners, errors = {}, {}
        for arm in arms:  # each arm's model prepared as it was tuned (layouts differ)
            model, _target = load_tuned_model(model_name, dirs[arm])
            runners[arm] = VMRunner(str(dirs[arm] / LIBRARY_FILE))
            expected = model.reference.run(model.inputs)
            errors[arm] = max_relative_error(runners[arm](model.inputs), expected)
        latency, _err = time_side_by_side(model, runners, BUDGET_S)
        ref = model.reference.name
        ms = {arm: latency[arm]["median_ms"] for arm in arms}
        data[model_name] = {"trials": args.trials, "seed": args.seed,
                            "new_ms": ms["new"], "old_ms": ms["old"],
                            "ratio": ms["new"] / ms["old"], "prepack_ms": ms.get("prepack"),
                            "nhwc_ms": ms.get("nhwc"),
                            "reference": ref, "reference_ms": latency[ref]["median_ms"],
                            "tune_seconds": seconds, "max_relative_error": errors,
                            "host": host, "latency": latency}
        print(f"{model_name}: " + ", ".join(f"{a} {v:.2f} ms" for a, v in ms.items())
              + f", {ref} {latency[ref]['median_ms']:.2f} ms", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n")
        out.with_suffix(".md").write_text(markdown(data))


def markdown(data: dict) -> str:
    lines = ["`benchmarks/prepack.py`; median of rotating rounds, 20 s each; old: weights and "
             "layouts as in the model file, MetaSchedule's kernels; prepack: weights prepacked; "
             "nhwc: prepacked + NHWC; new: prepacked + NHWC + register-tiled kernels (the CPU "
             "defaults); error: max relative error against the reference", "",
             "| model | host | trials | old ms | prepack ms | nhwc ms | new ms | new/old | "
             "reference ms | new/reference | error (old, prepack, nhwc, new) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in data.items():
        if not isinstance(row, dict) or "ratio" not in row:
            continue
        err = row["max_relative_error"]
        prepack, nhwc = ("—" if row.get(k) is None else f"{row[k]:.2f}"
                         for k in ("prepack_ms", "nhwc_ms"))
        errors = ", ".join("—" if err.get(a) is None else f"{err[a]:.1e}" for a in ARMS)
        lines.append(f"| {name} | {row['host']['llvm_cpu']} | {row['trials']} | "
                     f"{row['old_ms']:.2f} | {prepack} | {nhwc} | {row['new_ms']:.2f} | "
                     f"{row['ratio']:.2f} | {row['reference_ms']:.2f} ({row['reference']}) | "
                     f"{row['new_ms'] / row['reference_ms']:.2f} | {errors} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
