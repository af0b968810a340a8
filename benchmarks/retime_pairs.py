"""How much does a pair's final-latency ratio move between side-by-side timings?

    .venv/bin/python benchmarks/retime_pairs.py bert --repeats 3

``fisched experiment`` times each finished pair once (``final.json``: both arms' compiled
models and the reference in rotating rounds, 20 s each). This times every pair of
``results/experiment/<model>`` ``--repeats`` more times the same way, one pair after the other,
and appends each timing to ``<model>/retimes.json`` (rerunning adds more); it prints, per
seed, the ratio of every timing so far, ``final.json``'s first.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a model of the experiment (its zoo name)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arms", default="xgb,fi-prior")
    ap.add_argument("--experiment", default="results/experiment")
    args = ap.parse_args()

    from fisched.compile import LIBRARY_FILE
    from fisched.experiment import PAIR_BUDGET_S
    from fisched.measure import VMRunner, time_against_reference
    from fisched.tune import load_tuned_model

    a, b = args.arms.split(",")
    model_dir = Path(args.experiment) / args.model
    out = model_dir / "retimes.json"
    data = json.loads(out.read_text()) if out.exists() else {"budget_s": PAIR_BUDGET_S,
                                                             "timings": []}
    seeds = [s for s in range(args.seeds)
             if all((model_dir / f"seed{s}" / arm / LIBRARY_FILE).exists() for arm in (a, b))]
    model, _target = load_tuned_model(args.model, model_dir / f"seed{seeds[0]}" / a)
    runners = {(s, arm): VMRunner(str(model_dir / f"seed{s}" / arm / LIBRARY_FILE))
               for s in seeds for arm in (a, b)}
    for _ in range(args.repeats):
        for s in seeds:
            timed, _err = time_against_reference(
                model, runners[(s, a)], a, PAIR_BUDGET_S,
                extra={b: runners[(s, b)].timer(model.inputs)}, default_max_runs=100_000)
            ms = {t.name: t.median_ms for t in timed}
            data["timings"].append({"seed": s, "at": time.strftime("%Y-%m-%d %H:%M:%S"),
                                    "median_ms": ms, "ratio": ms[b] / ms[a]})
            out.write_text(json.dumps(data, indent=1))
    for s in seeds:
        final = json.loads((model_dir / f"seed{s}" / "final.json").read_text())["latency"]
        ratios = [final[b]["median_ms"] / final[a]["median_ms"]]
        ratios += [t["ratio"] for t in data["timings"] if t["seed"] == s]
        print(f"seed {s}: {b}/{a} " + ", ".join(f"{r:.3f}" for r in ratios))


if __name__ == "__main__":
    main()
