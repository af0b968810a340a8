"""Do a tuned model's kernels run inside the model as fast as MetaSchedule timed them?

    .venv/bin/python benchmarks/cache_flush.py bert results/experiment/znver3/bert/seed2/xgb --top 8

fisched's runner times every candidate as MetaSchedule's default does: the same buffers, three
calls per repeat stretched to at least 100 ms, so after the first call the weights sit in the
CPU caches. Inside the model each weight matrix is read once per inference, after other kernels
have walked through the caches. For the ``--top`` tasks by estimated time (weight x best latency)
this rebuilds each task's best schedule and times it twice, alternating, on the same random
arguments: ``warm`` as the tuning runner does, and ``cold``, with MetaSchedule's
``cache_flush_cpu_non_first_arg`` (what ``EvaluatorConfig(enable_cpu_cache_flush=True)`` turns on)
before every single call. Beside them, the tuning record and, when ``<workdir>/profile.json``
from ``benchmarks/profile_model.py`` exists, the kernel's measured time per call in the model.

Writes ``<workdir>/cache_flush.json`` and prints a table (ms per call).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="model spec, as given to fisched tune")
    ap.add_argument("workdir", help="a tuned workdir (its database; profile.json if present)")
    ap.add_argument("--top", type=int, default=8, help="tasks, by estimated time")
    ap.add_argument("--rounds", type=int, default=5, help="alternating warm/cold rounds")
    ap.add_argument("--cold-calls", type=int, default=50, help="flushed calls per round")
    args = ap.parse_args()

    import tvm

    from fisched.costmodel.dataset import replay
    from fisched.metaschedule.build import alloc_arguments, fast_build
    from fisched.metaschedule.records import open_database, records_by_task, run_seconds
    from fisched.tuning.tune import extract, load_tuned_model

    workdir = Path(args.workdir)
    model, target = load_tuned_model(args.model, workdir)
    tasks = extract(model, target)
    in_model = {}
    profile = workdir / "profile.json"
    if profile.exists():
        in_model = {r["callee"]: r["ms"] / r["calls"]
                    for r in json.loads(profile.read_text())["callees"] if r["calls"]}

    best = []
    for task, records in zip(tasks, records_by_task(open_database(workdir),
                                                    [t.mod for t in tasks])):
        timed = [(run_seconds(r), r) for r in records if run_seconds(r) is not None]
        if timed:
            secs, record = min(timed, key=lambda x: x[0])
            best.append((task.weight * secs, task, secs, record))
    best.sort(key=lambda x: -x[0])

    dev = tvm.cpu()
    rows = []
    for _, task, secs, record in best[:args.top]:
        cand = replay(record)
        lib = fast_build(cand.sch.mod, target, None)
        (call_args,) = alloc_arguments(dev, [a.as_json() for a in cand.args_info], 1)
        warm_f = lib.time_evaluator(lib.entry_name, dev, number=3, repeat=1, min_repeat_ms=100)
        cold_f = lib.time_evaluator(lib.entry_name, dev, number=1, repeat=args.cold_calls,
                                    f_preproc="cache_flush_cpu_non_first_arg")
        warm, cold = [], []
        for _ in range(args.rounds):
            warm.append(warm_f(*call_args).mean)
            cold.append(statistics.median(cold_f(*call_args).results))
        row = {"task": task.name, "weight": task.weight, "tuning_ms": secs * 1e3,
               "warm_ms": statistics.median(warm) * 1e3,
               "cold_ms": statistics.median(cold) * 1e3,
               "in_model_ms": in_model.get(task.name)}
        rows.append(row)
        print(f"{row['task'][:44]:44s} tuning {row['tuning_ms']:7.3f}  warm {row['warm_ms']:7.3f}"
              f"  cold {row['cold_ms']:7.3f}  in model "
              + ("-" if row["in_model_ms"] is None else f"{row['in_model_ms']:7.3f}"), flush=True)
    out = {"model": model.name, "workdir": str(workdir), "rounds": args.rounds,
           "cold_calls": args.cold_calls, "tasks": rows}
    (workdir / "cache_flush.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
