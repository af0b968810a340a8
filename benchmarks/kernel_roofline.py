"""How close do fisched's kernels get to ONNX Runtime's and to the machine, op by op?

    .venv/bin/python benchmarks/kernel_roofline.py resnet18 mobilenet_v2 bert --trials 64

For each model, its heaviest Conv/MatMul/Gemm nodes (by FLOPs, ``--per-model`` of them, one
per distinct shape) are cut out as single-node ONNX models (weights as constants, the
activations as inputs). Each is then

- tuned by fisched, the CLI's defaults for the host (prepacked weights, NHWC convolutions,
  register-tiled kernels, stock XGBModel; ``--layouts nhwc,as-is`` adds the model file's
  layout, ``--kernels register-tiled,stock`` MetaSchedule's own design space, to see what each
  buys), on its heaviest task only, ``--trials`` trials in rounds of ``--trials-per-iter`` (so
  the cost model steers later rounds); fisched's GFLOPS is the node's FLOPs over the kernel
  time re-timed after tuning (the lowest median of its three best schedules; the lowest
  tuning record is kept beside it as ``recorded_ms``);
- run by ONNX Runtime at the same threads, ``enable_profiling`` on: the reference GFLOPS is
  the same FLOPs over the median time of ORT's compute kernel alone (its NCHWc reorders, which
  fisched's figure does not contain either, are left out; they are listed per node);
- both timed in ``--rounds`` alternating rounds in one fresh process (``side_by_side``);
- set against the host's sgemm (numpy, 2048^3, all cores), the practical fp32 ceiling.

Writes ``results/ort_gap/kernels.json``: ``{"host_cpu", "sgemm_gflops", "tasks": [{"model",
"task", "trials", "gflops", "reference_gflops", "ratio", ...}]}`` and a Markdown table.
Resumable: a task whose workdir holds ``--trials`` records is not tuned again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from fisched.metaschedule.kernels import DEFAULT_KERNELS, KERNELS

HEAVY_OPS = ("Conv", "MatMul", "Gemm")
ORT_KERNELS = ("Conv", "FusedConv", "NchwcConv", "MatMul", "FusedMatMul", "Gemm")


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            shapes[vi.name] = dims
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def node_flops(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> float:
    """Multiply-adds x 2 of a Conv (any groups), MatMul (batched) or Gemm node."""
    if node.op_type == "Conv":
        out, w = shapes[node.output[0]], shapes[node.input[1]]
        return 2.0 * np.prod(out) * np.prod(w[1:])
    a, out = shapes[node.input[0]], shapes[node.output[0]]
    transposed = any(at.name == "transA" and at.i for at in node.attribute)
    k = a[-2] if transposed else a[-1]
    return 2.0 * np.prod(out) * k


def single_node_model(model: onnx.ModelProto, node: onnx.NodeProto,
                      shapes: dict[str, list[int]]) -> onnx.ModelProto:
    """``node`` alone: its initializers kept, every other input a graph input."""
    inits = {i.name: i for i in model.graph.initializer}
    constants = {n.output[0]: n for n in model.graph.node if n.op_type == "Constant"}
    kept, inputs = [], []
    for name in node.input:
        if not name:
            continue
        if name in inits:
            kept.append(inits[name])
        elif name in constants:
            value = next(a.t for a in constants[name].attribute if a.name == "value")
            kept.append(numpy_helper.from_array(numpy_helper.to_array(value), name))
        else:
            inputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                        shapes[name]))
    out = helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT,
                                        shapes[node.output[0]])
    graph = helper.make_graph([node], f"{node.op_type}_{node.output[0]}", inputs, [out], kept)
    single = helper.make_model(graph, opset_imports=list(model.opset_import))
    single.ir_version = model.ir_version
    onnx.checker.check_model(single)
    return single


def heaviest_nodes(model: onnx.ModelProto, count: int) -> list[tuple[onnx.NodeProto, float]]:
    """The ``count`` heaviest conv/matmul nodes, one per distinct (op, shapes, attributes)."""
    shapes = _shapes(model)
    seen, picked = set(), []
    nodes = [n for n in model.graph.node if n.op_type in HEAVY_OPS
             and all(i in shapes for i in n.input if i) and n.output[0] in shapes]
    for node in sorted(nodes, key=lambda n: -node_flops(n, shapes)):
        key = (node.op_type, tuple(tuple(shapes[i]) for i in node.input if i),
               tuple(str(a) for a in node.attribute))
        if key not in seen:
            seen.add(key)
            picked.append((node, node_flops(node, shapes)))
        if len(picked) == count:
            break
    return picked


def ort_kernel_us(single: onnx.ModelProto, feeds: dict, threads: int) -> tuple[float, list]:
    """ONNX Runtime's compute-kernel time in one profiled session (median of 100 runs; its
    reorders left out) and the session's per-node rows."""
    from fisched.tuning.measure import onnxruntime_node_profile

    rows = onnxruntime_node_profile(single.SerializeToString(), feeds, threads, runs=100)
    return sum(r["median_us"] for r in rows if r["op"] in ORT_KERNELS), rows


def _heaviest_task(path: Path, layout: str):
    from fisched.metaschedule.target import make_target
    from fisched.models.frontend import load_model
    from fisched.tuning.tune import extract

    target = make_target()
    model = load_model(str(path), prepack=True, layout=layout)
    return max(extract(model, target), key=lambda t: t.flops), target


def tune_heaviest_task(path: Path, workdir: Path, trials: int, per_iter: int, seed: int,
                       layout: str, kernels: str) -> tuple[str, float]:
    """(task name, lowest recorded seconds) after tuning the single-node model's heaviest
    task to ``trials`` records (resuming)."""
    from fisched.costmodel.cost_models import make_cost_model
    from fisched.metaschedule.records import best_seconds, open_database, records_by_task
    from fisched.metaschedule.target import num_cores
    from fisched.tuning.tune import run_search

    task, target = _heaviest_task(path, layout)
    workdir.mkdir(parents=True, exist_ok=True)
    database = open_database(workdir)
    done = len(records_by_task(database, [task.mod])[0])
    if done < trials:
        run_search([task], workdir, database, target, max_trials=trials - done,
                   per_iter=min(per_iter, trials - done), strategy="evolutionary",
                   cost_model=make_cost_model("xgb", num_cores(target), seed), seed=seed,
                   callbacks=[], kernels=kernels)
    return task.name, best_seconds(records_by_task(database, [task.mod])[0])


def side_by_side(path: Path, workdir: Path, layout: str, threads: int, rounds: int) -> dict:
    """fisched's kernel and ONNX Runtime's, timed in ``rounds`` alternating rounds in a fresh
    process (timings in the tuning process came out up to 3x slower than in a fresh one).

    fisched: the three best distinct schedules of the workdir, rebuilt; per round each is timed
    as the tuning runner times it; the figure is the lowest of their medians over the rounds
    (the lowest tuning record alone is also the luckiest of many noisy windows). ONNX Runtime:
    per round one profiled session; the figure is the median of its kernel times.
    """
    cmd = [sys.executable, __file__, "--side-by-side", str(path), str(workdir), layout,
           str(rounds)]
    env = dict(os.environ, TVM_NUM_THREADS=str(threads))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _side_by_side_main(path: str, workdir: str, layout: str, rounds: str) -> None:
    import tvm

    from fisched.costmodel.dataset import replay
    from fisched.metaschedule.build import alloc_arguments, fast_build
    from fisched.metaschedule.records import best_distinct, open_database, records_by_task
    from fisched.metaschedule.target import default_num_cores
    from fisched.models.zoo import sample_inputs
    from fisched.tuning.validate import time_candidates

    task, target = _heaviest_task(Path(path), layout)
    records = best_distinct(records_by_task(open_database(workdir), [task.mod])[0], 3)
    cands = [replay(r) for r in records]
    libs = [fast_build(c.sch.mod, target, None) for c in cands]
    dev = tvm.cpu()
    args = [alloc_arguments(dev, [a.as_json() for a in c.args_info], 1)[0] for c in cands]
    single = onnx.load(path)
    feeds = sample_inputs(single)
    threads = default_num_cores()
    tvm_s: list[list[float]] = [[] for _ in libs]
    ort_us, ort_rows = [], None
    for r in range(int(rounds)):
        for side in (("tvm", "ort") if r % 2 == 0 else ("ort", "tvm")):
            if side == "tvm":
                for i, t in enumerate(time_candidates(libs, args, 1, dev)):
                    tvm_s[i] += t
            else:
                us, rows = ort_kernel_us(single, feeds, threads)
                ort_us.append(us)
                ort_rows = ort_rows or rows
    medians = [statistics.median(t) for t in tvm_s]
    print(json.dumps({"ms": min(medians) * 1e3, "contender_ms": [m * 1e3 for m in medians],
                      "reference_us": statistics.median(ort_us), "reference_rounds_us": ort_us,
                      "reference_nodes": ort_rows}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--side-by-side":
        _side_by_side_main(*sys.argv[2:6])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["resnet18", "mobilenet_v2", "bert"])
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--trials-per-iter", type=int, default=16)
    ap.add_argument("--per-model", type=int, default=2, help="heaviest nodes per model")
    ap.add_argument("--layouts", default="nhwc", help="comma-separated: nhwc, as-is")
    ap.add_argument("--kernels", default=DEFAULT_KERNELS,
                    help=f"comma-separated design spaces: {', '.join(KERNELS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=6, help="alternating timing rounds")
    ap.add_argument("--runs", default="runs/kernels")
    ap.add_argument("--out", default="results/ort_gap/kernels.json")
    args = ap.parse_args()

    from fisched.metaschedule.target import default_num_cores, open_host_results
    from fisched.models.zoo import ZOO

    out = Path(args.out)
    data, host = open_host_results(out)
    threads = default_num_cores()
    data.update({"host": host, "threads": threads,
                 "sgemm_gflops": sgemm_gflops()})
    tasks = {(t["model"], t["node"], t["layout"], t.get("kernels", "stock")): t
             for t in data.get("tasks", [])}
    for model_name in args.models:
        model = ZOO[model_name]()
        shapes = _shapes(model)
        for node, flops in heaviest_nodes(model, args.per_model):
            single = single_node_model(model, node, shapes)
            node_dir = Path(args.runs) / model_name / node.output[0]
            node_dir.mkdir(parents=True, exist_ok=True)
            path = node_dir / "node.onnx"
            onnx.save(single, str(path))
            for layout, kernels in itertools.product(args.layouts.split(","),
                                                     args.kernels.split(",")):
                # the first session's workdirs (stock kernels only) are named by layout alone
                run = node_dir / (layout if kernels == "stock" else f"{layout}-{kernels}")
                task, recorded = tune_heaviest_task(path, run, args.trials,
                                                    args.trials_per_iter, args.seed, layout,
                                                    kernels)
                timed = side_by_side(path, run, layout, threads, args.rounds)
                best, ref_us = timed["ms"] / 1e3, timed["reference_us"]
                row = {"model": model_name, "node": node.output[0], "op": node.op_type,
                       "layout": layout, "kernels": kernels,
                       "shapes": {i: shapes[i] for i in node.input if i}, "task": task,
                       "trials": args.trials, "flops": flops, "ms": best * 1e3,
                       "recorded_ms": recorded * 1e3,
                       "gflops": flops / best / 1e9, "reference_ms": ref_us / 1e3,
                       "reference_gflops": flops / ref_us / 1e3,
                       "ratio": (flops / best / 1e9) / (flops / ref_us / 1e3),
                       "contender_ms": timed["contender_ms"],
                       "reference_rounds_us": timed["reference_rounds_us"],
                       "reference_nodes": timed["reference_nodes"]}
                tasks[(model_name, node.output[0], layout, kernels)] = row
                print(f"{model_name} {node.op_type} {row['shapes']} {layout} {kernels}: fisched "
                      f"{row['gflops']:.1f} GFLOPS, onnxruntime {row['reference_gflops']:.1f}, "
                      f"ratio {row['ratio']:.2f}", flush=True)
                data["tasks"] = list(tasks.values())
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(data, indent=2) + "\n")
                out.with_suffix(".md").write_text(markdown(data))


def _vs_best_round(row: dict) -> str:
    rounds = row.get("reference_rounds_us")
    return f"{min(rounds) / 1e3 / row['ms']:.2f}" if rounds else "—"


def markdown(data: dict) -> str:
    lines = [f"`benchmarks/kernel_roofline.py`; host `{data['host_cpu']}`, {data['threads']} "
             f"threads; host sgemm {data['sgemm_gflops']:.0f} GFLOPS (numpy 2048^3); fisched: "
             "best kernel after the trials, re-timed, weights "
             "prepacked, stock XGBModel; "
             "kernels: the design space (register-tiled: fisched's rule, stock: MetaSchedule's "
             "rules); onnxruntime: its compute kernel's median from enable_profiling "
             "(reorders excluded); both in alternating rounds in one process, medians; "
             "ratio: fisched / onnxruntime GFLOPS; vs ORT's best round: against ONNX "
             "Runtime's fastest round alone (the conservative figure)", "",
             "| model | op | shapes | layout | kernels | trials | fisched GFLOPS | "
             "onnxruntime GFLOPS | ratio | vs ORT's best round | fisched / sgemm |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in data["tasks"]:
        shapes = " ".join("x".join(map(str, s)) for s in t["shapes"].values())
        lines.append(f"| {t['model']} | {t['op']} | {shapes} | {t['layout']} | "
                     f"{t.get('kernels', 'stock')} | {t['trials']} | "
                     f"{t['gflops']:.1f} | {t['reference_gflops']:.1f} | {t['ratio']:.2f} | "
                     f"{_vs_best_round(t)} | "
                     f"{t['gflops'] / data['sgemm_gflops']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
