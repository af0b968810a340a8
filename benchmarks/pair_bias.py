"""How far apart does the side-by-side timing put two copies of the *same* compiled model?

    .venv/bin/python benchmarks/pair_bias.py bert results/experiment/znver3/bert/seed0/xgb

The experiment's final-latency ratio times two arms' models and the reference framework in
alternating rounds (``fisched.tuning.measure.time_alternating``, as ``measure_pair`` does). Here both
"arms" load the same ``model.so`` (A and B), so every ratio B/A away from 1 is the method's own
bias or noise: it is measured with the order fixed (A, reference, B in every round, as
experiment pairs were timed before the order rotated) and rotating, ``--repeats`` times each,
in alternation. Writes ``<workdir>/pair_bias.json`` and prints each ratio.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="model spec, as given to fisched tune")
    ap.add_argument("workdir", help="a tuned workdir with model.so")
    ap.add_argument("--budget", type=float, default=10.0, help="seconds per callable")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from fisched.tuning.compile import LIBRARY_FILE
    from fisched.tuning.measure import VMRunner, time_alternating
    from fisched.tuning.tune import load_tuned_model

    workdir = Path(args.workdir)
    model, _target = load_tuned_model(args.model, workdir)
    library = str(workdir / LIBRARY_FILE)
    fns = {"A": VMRunner(library).timer(model.inputs)}
    if model.reference is not None:
        fns[model.reference.name] = lambda: model.reference.run(model.inputs)
    fns["B"] = VMRunner(library).timer(model.inputs)
    results = []
    for _ in range(args.repeats):
        for rotate in (False, True):
            timed = {t.name: t for t in time_alternating(fns, args.budget, rotate=rotate,
                                                         default_max_runs=100_000)}
            row = {"rotate": rotate, "A_ms": timed["A"].median_ms, "B_ms": timed["B"].median_ms,
                   "ratio_B_A": timed["B"].median_ms / timed["A"].median_ms,
                   "spread_A_ms": list(timed["A"].spread_ms),
                   "spread_B_ms": list(timed["B"].spread_ms)}
            results.append(row)
            print(f"rotate={rotate!s:5s} A {row['A_ms']:.3f} ms  B {row['B_ms']:.3f} ms  "
                  f"B/A {row['ratio_B_A']:.3f}", flush=True)
    out = {"model": model.name, "workdir": str(workdir), "budget_s": args.budget,
           "results": results}
    (workdir / "pair_bias.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
