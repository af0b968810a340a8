"""How much does a pair's final-latency ratio move between side-by-side timings?

    .venv/bin/python benchmarks/retime_pairs.py bert --repeats 3

``fisched experiment`` times each finished pair once (``final.json``: both arms' compiled
models and the reference in rotating rounds, 20 s each). This times every pair of
``results/experiment/znver3/<model>`` ``--repeats`` more times the same way, one pair after the other,
and appends each timing to ``<model>/retimes.json`` (rerunning adds more); it prints, per
seed, the ratio of every timing so far, ``final.json``'s first, and their median, which is what
``fisched experiment`` (and ``--summarize``) then reports as the seed's final latency ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import datetime, timezone
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a model of the experiment (its zoo name)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", default=None, metavar="S,S",
                    help="time only these seeds (e.g. a new pair, to bring its count of "
                         "timings level with the others'); default: every finished pair")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arms", default="xgb,fi-prior")
    ap.add_argument("--experiment", default="results/experiment/znver3",
                    help="an experiment folder (default: the znver3 one these were written for)")
    args = ap.parse_args()

    from fisched.study.experiment import PAIR_BUDGET_S, PAIR_FILE, RETIME_FILE, retimes_of
    from fisched.tuning.compile import LIBRARY_FILE
    from fisched.tuning.measure import VMRunner, time_side_by_side
    from fisched.tuning.tune import load_tuned_model

    a, b = args.arms.split(",")
    model_dir = Path(args.experiment) / args.model
    out = model_dir / RETIME_FILE
    data = json.loads(out.read_text()) if out.exists() else {"budget_s": PAIR_BUDGET_S,
                                                             "timings": []}
    from fisched.provenance import host_cpu, one_host
    from fisched.study.experiment import run_files

    there = one_host([json.loads(p.read_text()) for p in run_files(args.experiment)],
                     args.experiment)
    if there not in (None, host_cpu()):  # timings of two hosts never compare
        raise SystemExit(f"{args.experiment} was measured on {there}, this host is "
                         f"{host_cpu()}: retime it there")
    data["host_cpu"] = host_cpu()
    # pairs already timed once (final.json: what these timings extend) with both libraries
    wanted = range(args.seeds) if args.only is None else [int(s) for s in args.only.split(",")]
    seeds = [s for s in wanted if (model_dir / f"seed{s}" / PAIR_FILE).exists()
             and all((model_dir / f"seed{s}" / arm / LIBRARY_FILE).exists() for arm in (a, b))]
    if not seeds:
        raise SystemExit(f"no finished pair (final.json and both libraries) in {model_dir}")
    model, _target = load_tuned_model(args.model, model_dir / f"seed{seeds[0]}" / a)
    runners = {(s, arm): VMRunner(str(model_dir / f"seed{s}" / arm / LIBRARY_FILE))
               for s in seeds for arm in (a, b)}
    for _ in range(args.repeats):
        for s in seeds:
            latency, _err = time_side_by_side(
                model, {arm: runners[(s, arm)] for arm in (a, b)}, PAIR_BUDGET_S)
            ms = {name: v["median_ms"] for name, v in latency.items()}
            at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            data["timings"].append({"seed": s, "at": at,
                                    "median_ms": ms, "ratio": ms[b] / ms[a]})
            out.write_text(json.dumps(data, indent=1))
    for s in seeds:  # each timed seed: its timings from earlier calls too
        pair = json.loads((model_dir / f"seed{s}" / PAIR_FILE).read_text())
        ratios = [pair["latency"][b]["median_ms"] / pair["latency"][a]["median_ms"]]
        ratios += [t["ratio"] for t in retimes_of(model_dir, s, pair)]
        print(f"seed {s}: {b}/{a} " + ", ".join(f"{r:.3f}" for r in ratios)
              + f" (median {statistics.median(ratios):.3f})")


if __name__ == "__main__":
    main()
