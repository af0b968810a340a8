"""Where a tuned model's time goes, call by call, against what tuning measured for each kernel.

    .venv/bin/python benchmarks/profile_model.py bert results/experiment/znver3/bert/seed2/xgb

The experiment's end-to-end estimate (sum over tasks of weight x best measured latency) sits
well below the compiled model's measured latency (bert: ~8.5 against ~14 ms). This runs the
workdir's ``model.so`` under a VM instrument that times every call the VM makes (kernels and
builtins such as allocation), ``--runs`` times, and writes per callee: calls per inference,
measured ms per inference, and for tuned kernels the tuning estimate (weight x best latency).
The instrument's own Python overhead falls outside the timed calls but inside the end-to-end
time, so ``total`` is only compared with the plain (uninstrumented) median.

Writes ``<workdir>/profile.json`` and prints a table sorted by measured time. With
``--markdown FILE`` (e.g. ``results/ort_gap/profile_resnet18.md``) it also profiles ONNX
Runtime on the same model and inputs, same threads (``enable_profiling``: ORT's own per-node
kernel times), and writes both side by side: time per kind of work (convolutions, matmuls,
layout changes, the rest) and the heaviest calls of each.
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
    ap.add_argument("--markdown", default=None, metavar="FILE",
                    help="also profile ONNX Runtime and write the comparison here")
    args = ap.parse_args()

    from fisched.metaschedule.records import best_seconds, open_database, records_by_task
    from fisched.tuning.compile import LIBRARY_FILE, compile_model
    from fisched.tuning.measure import VMRunner
    from fisched.tuning.tune import extract, load_tuned_model

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
        # a prepacked kernel is compiled as "<task>_prepacked" (SplitLayoutRewritePreproc)
        task = name[: -len("_prepacked")] if name.endswith("_prepacked") else name
        weight, best = estimate.get(task, (None, None))
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
    if args.markdown:
        from fisched.metaschedule.target import host_info
        from fisched.models.zoo import ZOO
        from fisched.tuning.measure import onnxruntime_node_profile

        if args.model not in ZOO:
            raise SystemExit("--markdown compares with ONNX Runtime: zoo models only")
        onnx_bytes = ZOO[args.model]().SerializeToString()
        ort_rows = onnxruntime_node_profile(onnx_bytes, model.inputs, runner_threads(),
                                            runs=args.runs)
        Path(args.markdown).write_text(markdown(out, ort_rows, host_info()["llvm_cpu"],
                                                runner_threads(), args.top))


def runner_threads() -> int:
    import os

    return int(os.environ["TVM_NUM_THREADS"])  # load_tuned_model set it to the target's cores


KINDS = (("convolution", ("conv",)), ("matmul", ("matmul", "dense", "gemm", "batch_matmul")),
         ("layout change", ("transpose", "layout_transform", "reorder", "permute")),
         ("pooling", ("pool",)))


def kind(name: str) -> str:
    """What a TVM callee or an ORT kernel does, from its name (fused names list their ops,
    the heaviest first by construction: ``fused_conv2d_add_relu`` is a convolution)."""
    low = name.lower()
    head = low.split("_")[1] if low.startswith("fused_") else low
    ops = {part.rstrip("0123456789") for part in low.split("_")[1:]} if low.startswith("fused_") \
        else set()
    if ops and ops <= {"reshape", "transpose", "layout", "transform", "permute", "dims"}:
        return "layout change"
    for label, keys in KINDS:
        if any(k in head for k in keys):
            return label
    if low.startswith("vm.") or "alloc" in low or "builtin" in low:
        return "VM builtins"
    return "other kernels"


def markdown(tvm: dict, ort_rows: list[dict], host: str, threads: int, top: int) -> str:
    tvm_kinds: dict[str, float] = defaultdict(float)
    for r in tvm["callees"]:
        tvm_kinds[kind(r["callee"])] += r["ms"]
    ort_kinds: dict[str, float] = defaultdict(float)
    for r in ort_rows:
        ort_kinds[kind(r["op"])] += r["median_us"] / 1e3
    ort_total = sum(r["median_us"] for r in ort_rows) / 1e3
    lines = [f"# Where {tvm['model']}'s time goes: fisched's tuned model against ONNX Runtime",
             "", f"`benchmarks/profile_model.py {tvm['model']} {tvm['workdir']} --markdown ...`;"
             f" host `{host}`, {threads} threads, {tvm['runs']} runs each. TVM: the VM's calls "
             "timed one by one (instrument), against each tuned kernel's tuning estimate "
             "(weight x best measured latency). ONNX Runtime: its own per-node kernel times "
             "(`enable_profiling`), medians per node.", "",
             f"- TVM end to end (uninstrumented median): {tvm['plain_median_ms']:.2f} ms; "
             f"calls timed one by one sum to {tvm['instrumented_sum_ms']:.2f} ms; the tuning "
             f"estimate of those kernels: {tvm['estimate_ms']:.2f} ms",
             f"- ONNX Runtime, per-node medians summed: {ort_total:.2f} ms", "",
             "| kind of work | TVM ms | ONNX Runtime ms | TVM / ORT |", "|---|---|---|---|"]
    for label in sorted(set(tvm_kinds) | set(ort_kinds), key=lambda k: -tvm_kinds.get(k, 0)):
        t, o = tvm_kinds.get(label, 0.0), ort_kinds.get(label, 0.0)
        lines.append(f"| {label} | {t:.2f} | {o:.2f} | {t / o:.2f} |" if o else
                     f"| {label} | {t:.2f} | {o:.2f} | — |")
    lines += ["", f"Heaviest TVM calls (of {len(tvm['callees'])}):", "",
              "| callee | calls | ms | tuning estimate ms |", "|---|---|---|---|"]
    for r in tvm["callees"][:top]:
        est = "—" if r["estimate_ms"] is None else f"{r['estimate_ms']:.3f}"
        lines.append(f"| `{r['callee']}` | {r['calls']:.0f} | {r['ms']:.3f} | {est} |")
    lines += ["", f"Heaviest ONNX Runtime nodes (of {len(ort_rows)}):", "",
              "| node | kernel | ms |", "|---|---|---|"]
    for r in ort_rows[:top]:
        lines.append(f"| `{r['node']}` | {r['op']} | {r['median_us'] / 1e3:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
