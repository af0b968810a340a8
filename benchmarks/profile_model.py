"""Where a tuned model's time goes, call by call, against what tuning measured for each kernel.

    .venv/bin/python benchmarks/profile_model.py bert results/experiment/bert/seed2/xgb

The experiment's end-to-end estimate (sum over tasks of weight x best measured latency) sits
well below the compiled model's measured latency (bert: ~8.5 against ~14 ms). This runs the
workdir's ``model.so`` under a VM instrument that times every call the VM makes (kernels and
builtins such as allocation), ``--runs`` times, and writes per callee: calls per inference,
measured ms per inference, and for tuned kernels the tuning estimate (weight x best latency).
The instrument's own Python overhead falls outside the timed calls but inside the end-to-end
time, so ``total`` is only compared with the plain (uninstrumented) median.

Writes ``<workdir>/profile.json`` and prints a table sorted by measured time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="model spec, as given to fisched tune")
    ap.add_argument("workdir", help="a tuned workdir with model.so and its database")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--top", type=int, default=25, help="rows printed")
    args = ap.parse_args()

    from fisched.compile import LIBRARY_FILE, compile_model
    from fisched.measure import VMRunner
    from fisched.records import best_seconds, open_database, records_by_task
    from fisched.tune import extract, load_tuned_model

    workdir = Path(args.workdir)
    model, target = load_tuned_model(args.model, workdir)
    tasks = extract(model, target)
    records = records_by_task(open_database(workdir), [t.mod for t in tasks])
    estimate = {t.name: (t.weight, best_seconds(r)) for t, r in zip(tasks, records)}
    library = workdir / LIBRARY_FILE
    if not library.exists():
        library = compile_model(model, workdir, target)
    runner = VMRunner(str(library))
    call = runner.timer(model.inputs)
    for _ in range(3):
        call()
    plain = []
    for _ in range(args.runs):
        start = time.perf_counter()
        call()
        plain.append((time.perf_counter() - start) * 1e3)

    spent: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    started: list[float] = []

    def instrument(func, name, before, ret, *rest):
        if before:
            started.append(time.perf_counter())
        else:
            spent[name] += time.perf_counter() - started.pop()
            calls[name] += 1
        return 0  # VMInstrumentReturnKind.NO_OP: run as usual

    runner.vm.set_instrument(instrument)
    for _ in range(args.runs):
        call()
    rows = []
    for name, secs in spent.items():
        weight, best = estimate.get(name, (None, None))
        rows.append({"callee": name, "calls": calls[name] / args.runs,
                     "ms": secs / args.runs * 1e3,
                     "estimate_ms": None if best is None else weight * best * 1e3})
    rows.sort(key=lambda r: -r["ms"])
    out = {"model": model.name, "workdir": str(workdir), "runs": args.runs,
           "plain_median_ms": statistics.median(plain),
           "instrumented_sum_ms": sum(r["ms"] for r in rows),
           "estimate_ms": sum(r["estimate_ms"] or 0.0 for r in rows),
           "untimed_tasks": [n for n, (w, b) in estimate.items() if b is None],
           "callees": rows}
    (workdir / "profile.json").write_text(json.dumps(out, indent=1))
    print(f"plain median {out['plain_median_ms']:.3f} ms; instrumented calls sum to "
          f"{out['instrumented_sum_ms']:.3f} ms; tuning estimate of the kernels "
          f"{out['estimate_ms']:.3f} ms; tasks without a measurement: {out['untimed_tasks']}")
    print(f"{'callee':60s} {'calls':>6s} {'ms':>8s} {'estimate':>8s}")
    for r in rows[:args.top]:
        est = "" if r["estimate_ms"] is None else f"{r['estimate_ms']:.3f}"
        print(f"{r['callee'][:60]:60s} {r['calls']:6.1f} {r['ms']:8.3f} {est:>8s}")


if __name__ == "__main__":
    main()
